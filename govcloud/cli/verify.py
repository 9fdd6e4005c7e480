"""`govcloud verify` and `govcloud ssh`: thin commands over govcloud.verify.

Only click is imported at module level; govcloud.verify (and paramiko, openstacksdk,
the engine) load inside the commands. Exit codes: verify 0 when every check of every
server passed, 1 when any failed or a host key was refused; ssh the remote command's
exit status, 1 when the connection was refused (unknown or changed host key, failed
login: the message says which). Reports go to stdout, progress to stderr.
"""
from __future__ import annotations

import sys
import threading

import click

from govcloud.errors import GovcloudError

VERIFY_FORMAT = click.Choice(["text", "json", "junit"])
PASSPHRASE_ENV = "GOVCLOUD_SSH_KEY_PASSPHRASE"


def register(cli: click.Group) -> None:
    cli.add_command(verify)
    cli.add_command(ssh)


def access_options(f):
    """Options verify and ssh share (and `deploy --verify` may): where trusted host keys and the private key
    come from, who logs in."""
    f = click.option("--user", help="login user (default: the site's ssh.user, else the image's cloud user)")(f)
    f = click.option("--key", type=click.Path(exists=True, dir_okay=False),
                     help=f"private key file (default: the site's ssh.keyFile, else the SSH agent); "
                          f"its passphrase is read from {PASSPHRASE_ENV}")(f)
    return click.option("--known-hosts", type=click.Path(exists=True, dir_okay=False),
                        help="trust only the host keys in this OpenSSH known_hosts file (nothing is pinned)")(f)


def verify_options(known_hosts, key, user, **more):
    """VerifyOptions from the access options (the key's passphrase from the environment)."""
    from pathlib import Path

    from govcloud import settings
    from govcloud.verify import VerifyOptions

    return VerifyOptions(known_hosts=Path(known_hosts) if known_hosts else None, key_file=Path(key) if key else None,
                         key_passphrase=settings.env(PASSPHRASE_ENV), user=user, **more)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=VERIFY_FORMAT, default="text", show_default=True)
@access_options
@click.option("--parallel", type=click.IntRange(1, 64), default=8, show_default=True, help="servers checked at once")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=300, show_default=True,
              help="seconds per server, the retries while it boots included")
@click.option("--min-free-disk", type=click.FloatRange(0, 100), default=10, show_default=True,
              help="percent of / that must be free")
@click.option("--min-free-memory", type=click.FloatRange(0, 100), default=10, show_default=True,
              help="percent of memory that must be available")
@click.option("--repin", multiple=True, metavar="SERVER",
              help="read SERVER's host keys from its console output again and pin them (after a rebuild)")
def verify(files, fmt, known_hosts, key, user, parallel, timeout, min_free_disk, min_free_memory, repin):
    """SSH health checks on the servers of deployed stacks; exit 1 if any check fails.

    Host keys come from each server's console output (pinned per stack the first time) or from --known-hosts;
    an unknown or changed key is refused, never accepted. See docs/verify.md.
    """
    from govcloud.verify import verify_files
    from govcloud.verify.checks import Thresholds

    options = verify_options(known_hosts, key, user, parallel=parallel, host_timeout=timeout, repin=frozenset(repin),
                       thresholds=Thresholds(min_free_disk, min_free_memory))
    with VerifyProgress() as progress:
        reports = verify_files(files, options, progress.event)
    emit_reports(reports, fmt)
    fail_unless_ok(reports)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("server")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@access_options
def ssh(file, server, command, known_hosts, key, user):
    """A shell, or one COMMAND (after --), on SERVER of the deployed stack.

    The same path as verify: the bastion for servers without a public IP, pinned host keys, the agent or key file.
    """
    from govcloud.verify import open_shell, run_command

    options = verify_options(known_hosts, key, user)
    if command:
        stdin = None if sys.stdin.isatty() else sys.stdin.buffer
        click.get_current_context().exit(run_command(file, server, " ".join(command), options, stdin=stdin))
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal for a shell: give a command after --, e.g. -- uptime")
    click.get_current_context().exit(open_shell(file, server, options))  # the remote shell's exit code


class VerifyFailed(GovcloudError):
    """A server failed a check (the report above says which and why): exit 1, for CI gates."""


def fail_unless_ok(reports) -> None:
    bad = [h for r in reports for h in r.hosts if not h.ok] + [n for r in reports for n in r.notes]
    if bad:
        raise VerifyFailed(f"verify failed: {len(bad)} server(s) or note(s) not ok")


def emit_reports(reports, fmt: str) -> None:
    """Verify reports on stdout: text | json | junit."""
    from govcloud.verify import render

    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json(render.report_json(reports))
    elif fmt == "junit":
        click.echo(render.report_junit(reports), nl=False)
    else:
        click.echo(render.report_text(reports))


class VerifyProgress:
    """Live progress on stderr: a line per server on a terminal (rich), a line per event otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.states: dict[str, str] = {}
        self.lock = threading.Lock()
        self.live = None

    def __enter__(self) -> "VerifyProgress":
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def event(self, e) -> None:
        with self.lock:
            if e.state == "done" and e.result is not None:
                r = e.result
                text = "ok" if r.ok else (r.failure.title if r.failure else "check failed")
                self.states[e.server] = text
                if not self.tty:
                    click.echo(f"  {e.server:<12} {text}", err=True)
            else:
                self.states[e.server] = f"{e.state} {e.detail}".strip()
                if not self.tty and e.state == "waiting":
                    click.echo(f"  {e.server:<12} {e.detail}", err=True)
            if self.live is not None:
                self.live.update(self._render())

    def _render(self):
        from rich.text import Text

        lines = [f"  {name:<12} {state[:100]}" for name, state in sorted(self.states.items())]
        return Text("\n".join(["verifying ..."] + lines))
