"""Which host key a server must present, decided before connecting; and what was seen, for the audit.

In order:

1. `--known-hosts FILE` given: only that file counts (by the server's OpenStack
   name, its address as verify reaches it, its floating and fixed IP); a server it
   does not list is unknown.
2. A pin for the server in the stack's known_hosts, made for this same Nova server
   (same id): the server must present one of those keys.
3. Otherwise (first verify, a replaced server, or `--repin`): the host keys cloud-init
   printed on the server's console, read through Nova's API, are pinned now and
   expected. Nova's 409 or a console without the key block yet means the server is
   still booting (tried again); a console that will not have them (501, a boot that
   finished without printing them) leaves the key unknown.

Nothing is ever trusted because the server presented it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from govcloud.verify.console import boot_finished, host_keys_in
from govcloud.verify.errors import StillBooting
from govcloud.verify.hostkey import HostKey
from govcloud.verify.known_hosts import OperatorKnownHosts, PinnedKeys
from govcloud.verify.source import ConsoleNotReady, ConsoleSource, ConsoleUnavailable
from govcloud.verify.store import KeySeen
from govcloud.verify.targets import ServerTarget


@dataclass(frozen=True)
class Expected:
    keys: tuple[HostKey, ...]
    where: str  # where the keys come from, for messages
    source: str  # pinned | console | known_hosts
    unknown_reason: str = ""  # why there are none
    pinned_now: str = ""  # "" | pinned | repinned


class Trust:
    """The host keys of one verify or ssh run (thread-safe; one per stack)."""

    def __init__(self, pins: PinnedKeys, console: ConsoleSource, now: Callable[[], str],
                 operator: OperatorKnownHosts | None = None, repin: frozenset[str] = frozenset()):
        self.pins, self.console, self.now = pins, console, now
        self.operator, self.repin = operator, repin
        self.seen: list[KeySeen] = []
        self._lock = threading.Lock()

    def expected(self, target: ServerTarget) -> Expected:
        if self.operator is not None:
            keys, _revoked = self.operator.lookup(target.known_as())
            where = f"the known_hosts file {self.operator.path}"
            return Expected(keys, where, "known_hosts",
                            unknown_reason=f"{where} lists none of {', '.join(target.known_as())}")
        pin = self.pins.get(target.name)
        asked = {target.name, target.label} & self.repin
        if pin is not None and pin.server_id in ("", "-", target.server_id) and not asked:
            return Expected(pin.keys, f"the stack's pinned known_hosts ({self.pins.path})", "pinned")
        return self._from_console(target, "repinned" if pin is not None else "pinned")

    def _from_console(self, target: ServerTarget, how: str) -> Expected:
        where = "its console output"
        try:
            text = self.console.console_output(target.server_id)
        except ConsoleNotReady as exc:
            raise StillBooting(f"no host keys to check it against yet: {exc}") from None
        except ConsoleUnavailable as exc:
            return Expected((), where, "console", unknown_reason=f"no key is pinned for it and {exc}; give its keys "
                                                                  f"with --known-hosts FILE")
        found = host_keys_in(text)
        if found is None:
            if boot_finished(text):
                return Expected((), where, "console", unknown_reason="no key is pinned for it and its console output "
                                "has no SSH host key block although cloud-init finished (the image's keys_to_console "
                                "is off?); give its keys with --known-hosts FILE")
            raise StillBooting("its console output shows no SSH host keys yet")
        if not found.supported:
            return Expected((), where, "console", unknown_reason="the host key block on its console holds no key "
                                                                  "govcloud can check")
        self.pins.pin(target.name, found.supported, server_id=target.server_id, pinned_at=self.now(),
                      source="console")
        return Expected(found.supported, where, "console", pinned_now=how)

    def console_shows(self, target: ServerTarget, key: HostKey | None) -> bool | None:
        """Whether the server's console output lists `key` now (None: it cannot be read)."""
        if key is None:
            return None
        try:
            found = host_keys_in(self.console.console_output(target.server_id))
        except (ConsoleNotReady, ConsoleUnavailable):
            return None
        return found is not None and key in found.keys

    def saw(self, who: str, address: str, key: HostKey | None, outcome: str, source: str) -> None:
        with self._lock:
            self.seen.append(KeySeen(who, address, key.label() if key else "", outcome, source))


def read_operator_file(path: Path | None) -> OperatorKnownHosts | None:
    if path is None:
        return None
    from govcloud.errors import InputError, Problem

    try:
        return OperatorKnownHosts(Path(path).expanduser())
    except OSError as exc:
        raise InputError([Problem(f"cannot read the known_hosts file {path}: {exc.strerror or exc}",
                                  code="input")]) from None
