"""What a server's console output (Nova's os-getConsoleOutput) tells verify: its host keys and its boot.

cloud-init's `keys_to_console` module runs `write-ssh-key-fingerprints` at the end of
the first boot, which prints the fingerprints and then the public host keys between

    -----BEGIN SSH HOST KEY KEYS-----
    ecdsa-sha2-nistp256 AAAA... root@web-1
    ssh-ed25519 AAAA... root@web-1
    -----END SSH HOST KEY KEYS-----

The console is the one channel to the new server that does not go through the
network an attacker could sit on (it comes from the hypervisor, through Nova's
authenticated API), so these keys are what verify pins. What real consoles look
like varies, and the parser takes all of it:

- lines prefixed by the logger tag: `ec2: ` (cloud-init's old name, still used by
  many images), `cloud-init: `, with or without a syslog header
  (`<14>Apr  9 08:37:28 cloud-init: `) or a kernel timestamp (`[   45.6] `);
- CRLF line ends and terminal escapes from serial consoles;
- noise inside the block (a kernel message written between two lines) and key
  lines cut short: only keys whose data is a whole, well-formed key are taken;
- several blocks (a rebuilt server, a console that kept an earlier boot): the last
  complete block wins; a block that has begun but not ended yet counts as none.

Nothing here talks to a cloud or a server.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from govcloud.verify.hostkey import HostKey

BEGIN_KEYS = "-----BEGIN SSH HOST KEY KEYS-----"
END_KEYS = "-----END SSH HOST KEY KEYS-----"

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")
# [   45.686635]   <14>Apr  9 08:37:28   ec2: | cloud-init: | cloud-init[963]:
_PREFIX = re.compile(r"^(?:\[\s*\d+\.\d+\]\s*)?"
                     r"(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?"
                     r"(?:(?:ec2|cloud-init)(?:\[\d+\])?: ?)?")
_FINISHED = re.compile(r"Cloud-init v\. \S+ finished at")
_RANDOM_PASSWORDS = "Set the following 'random' passwords"


@dataclass(frozen=True)
class ConsoleHostKeys:
    """The host keys of the last complete key block of a console output."""

    keys: tuple[HostKey, ...]  # every well-formed key in the block (unsupported types included)
    unreadable: tuple[str, ...] = ()  # lines of the block that are not a whole key (noise, cut lines)

    @property
    def supported(self) -> tuple[HostKey, ...]:
        return tuple(k for k in self.keys if k.supported)


def console_lines(text: str) -> list[str]:
    """The console's lines without line-end characters, terminal escapes and logger prefixes."""
    return [_PREFIX.sub("", _ESCAPES.sub("", line)).strip() for line in text.splitlines()]


def host_keys_in(text: str) -> ConsoleHostKeys | None:
    """The host keys cloud-init printed last; None when no complete block is there (yet)."""
    found: ConsoleHostKeys | None = None
    block: list[str] | None = None
    for line in console_lines(text):
        if line == BEGIN_KEYS:
            block = []
        elif line == END_KEYS and block is not None:
            found = _read_block(block)
            block = None
        elif block is not None:
            block.append(line)
    return found


def _read_block(lines: list[str]) -> ConsoleHostKeys:
    keys: list[HostKey] = []
    unreadable: list[str] = []
    for line in lines:
        if not line:
            continue
        try:
            key = HostKey.parse(line)
        except ValueError:
            unreadable.append(line)
            continue
        if key not in keys:
            keys.append(key)
    return ConsoleHostKeys(tuple(keys), tuple(unreadable))


def boot_finished(text: str) -> bool:
    """cloud-init said its last boot stage finished (`Cloud-init v. 23.4 finished at ...`)."""
    return _FINISHED.search(text) is not None


def console_tail(text: str, lines: int = 25) -> str:
    """The last `lines` lines for a failure report, with the passwords cloud-init prints masked."""
    out: list[str] = []
    masking = False
    for line in text.splitlines():
        clean = _ESCAPES.sub("", line).rstrip()
        if _RANDOM_PASSWORDS in clean:
            masking = True
            out.append(clean)
            continue
        if masking and re.fullmatch(r"(?:.*: )?[\w.-]+:\S+", clean):
            name = clean.rsplit(":", 1)[0]
            out.append(f"{name}:[secret]")
            continue
        masking = False
        out.append(clean)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out[-lines:])
