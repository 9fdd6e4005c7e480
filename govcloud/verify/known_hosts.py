"""Where trusted host keys are kept: the per-stack pinned file, and a known_hosts file an operator gives.

Pinned keys (`PinnedKeys`): `<stack dir>/known_hosts` (govcloud.verify.store names the
directory), in OpenSSH's known_hosts format with one entry per server under its
OpenStack name, so the same file serves plain OpenSSH too:

    ssh -o HostKeyAlias=moe-dev-portal-web-1 -o UserKnownHostsFile=.govcloud/verify/.../known_hosts ...

A comment line before each server's keys records which Nova server they belong to
(its id), when they were pinned and from where:

    # pin moe-dev-portal-web-1 server=5d0c... at=2026-11-28T10:00:00Z from=console

A server that is replaced gets a new id: its keys are read afresh from its console.
The same server presenting other keys is refused until an operator re-pins it on
purpose (`govcloud verify --repin SERVER`). Writes replace the file atomically under
a lock, so parallel verifies of one stack never lose a pin.

An operator's file (`OperatorKnownHosts`, `--known-hosts FILE`) is only read: plain,
hashed (`|1|salt|hash`) and wildcard host entries, `[host]:port`, and `@revoked`
lines (a revoked key is refused even when another line lists it). `@cert-authority`
lines are ignored: host certificates are not accepted.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import fnmatch
import hashlib
import hmac
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from govcloud.verify.hostkey import HostKey

_HEADER = ("# govcloud: host keys pinned by `govcloud verify` from the servers' console output.\n"
           "# OpenSSH: ssh -o HostKeyAlias=<server> -o UserKnownHostsFile=<this file> ...\n"
           "# Do not edit: `govcloud verify FILE --repin SERVER` re-pins a rebuilt server.\n")


@dataclass(frozen=True)
class Pin:
    alias: str  # the server's OpenStack name
    keys: tuple[HostKey, ...]
    server_id: str = ""
    pinned_at: str = ""
    source: str = ""  # console | ...


class PinnedKeys:
    """A stack's pinned host keys (read on every lookup: another run may have pinned since)."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = Path(path)

    def get(self, alias: str) -> Pin | None:
        return self._read().get(alias)

    def all(self) -> dict[str, Pin]:
        return self._read()

    def pin(self, alias: str, keys: Sequence[HostKey], *, server_id: str, pinned_at: str, source: str) -> Pin:
        """Replace `alias`'s keys (the others stay), atomically and under the file's lock."""
        new = Pin(alias, tuple(keys), server_id, pinned_at, source)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pins = self._read()
            pins[alias] = new
            self._write(pins)
        return new

    def _read(self) -> dict[str, Pin]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        meta: dict[str, dict[str, str]] = {}
        keys: dict[str, list[HostKey]] = {}
        for line in text.splitlines():
            words = line.split()
            if len(words) >= 3 and words[:2] == ["#", "pin"]:
                meta[words[2]] = dict(w.split("=", 1) for w in words[3:] if "=" in w)
            elif words and not words[0].startswith("#") and len(words) >= 3:
                try:
                    keys.setdefault(words[0], []).append(HostKey.parse(" ".join(words[1:3])))
                except ValueError:
                    continue  # a damaged line pins nothing
        return {alias: Pin(alias, tuple(ks), meta.get(alias, {}).get("server", ""),
                           meta.get(alias, {}).get("at", ""), meta.get(alias, {}).get("from", ""))
                for alias, ks in keys.items()}

    def _write(self, pins: dict[str, Pin]) -> None:
        lines = [_HEADER]
        for alias in sorted(pins):
            p = pins[alias]
            lines.append(f"# pin {alias} server={p.server_id or '-'} at={p.pinned_at or '-'} "
                         f"from={p.source or '-'}\n")
            lines.extend(f"{alias} {k.line()}\n" for k in p.keys)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".known_hosts.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("".join(lines))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class _Entry:
    patterns: tuple[str, ...]
    key: HostKey
    revoked: bool

    def matches(self, name: str) -> bool:
        name = name.lower()
        hit = False
        for pat in self.patterns:
            if pat.startswith("|1|"):
                hit = hit or _hashed_match(pat, name)
            elif pat.startswith("!"):
                if fnmatch.fnmatchcase(name, pat[1:].lower()):
                    return False
            elif fnmatch.fnmatchcase(name, pat.lower()):
                hit = True
        return hit


def _hashed_match(pattern: str, name: str) -> bool:
    try:
        _, _, salt64, hash64 = pattern.split("|", 3)
        salt, want = base64.b64decode(salt64), base64.b64decode(hash64)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), want)


class OperatorKnownHosts:
    """An OpenSSH known_hosts file given by the operator; never written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries = tuple(self._parse(self.path.read_text(encoding="utf-8")))

    @staticmethod
    def _parse(text: str) -> Iterable[_Entry]:
        for line in text.splitlines():
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            marker = words.pop(0) if words[0].startswith("@") else ""
            if marker == "@cert-authority" or len(words) < 3:
                continue
            try:
                key = HostKey.parse(" ".join(words[1:3]))
            except ValueError:
                continue
            yield _Entry(tuple(words[0].split(",")), key, marker == "@revoked")

    def lookup(self, names: Sequence[str]) -> tuple[tuple[HostKey, ...], tuple[HostKey, ...]]:
        """(keys listed for any of `names`, keys the file revokes)."""
        keys: list[HostKey] = []
        for e in self.entries:
            if not e.revoked and any(e.matches(n) for n in names) and e.key not in keys:
                keys.append(e.key)
        revoked = tuple(e.key for e in self.entries if e.revoked)
        return tuple(k for k in keys if k not in revoked), revoked


def address_name(host: str, port: int) -> str:
    """How known_hosts names an address: `host` on port 22, `[host]:port` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"
