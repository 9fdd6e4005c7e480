"""Console output from files for Nova's fake driver (dev cloud only; loaded by scripts/devcloud.d/nova-compute).

Nova's fake.FakeDriver boots nothing and answers every os-getConsoleOutput with a
fixed text. `govcloud verify` reads the SSH host keys a server's cloud-init prints
on its console, so its end-to-end test needs a console it controls: when
`<DEVCLOUD_ROOT>/state/console/<instance uuid>.log` exists, that file is the
instance's console output (read afresh on every call, so a test can change it);
otherwise the driver's fixed text, as before. Everything else on the path is
Nova's own: the API (409/404 handling, the `length` tail), the RPC to
nova-compute, the policy checks.

Test hook, not a feature: the directory is root's (the dev cloud's state), and
`scripts/devcloud env` prints it as DEVCLOUD_CONSOLE_DIR.
"""
import os

from nova.virt import fake

CONSOLE_DIR = os.path.join(os.environ.get("DEVCLOUD_ROOT", "/var/lib/govcloud-devcloud"), "state", "console")
_fixed_text = fake.FakeDriver.get_console_output


def get_console_output(self, context, instance):
    path = os.path.join(CONSOLE_DIR, "%s.log" % instance.uuid)  # a uuid: no path tricks
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return _fixed_text(self, context, instance)


fake.FakeDriver.get_console_output = get_console_output
