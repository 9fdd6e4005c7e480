"""Problems users can fix: where they are (file:line:column, field path) and what is allowed.

Every stage reports bad input as `Problem`s collected into an `InputError`;
the CLI prints them one per line and exits 1. No stage lets a Python
traceback reach a user for input it could have checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class SourceLocation:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    path: str = ""  # field path, e.g. spec.servers[1].volumes[0].sizeGb
    location: SourceLocation | None = None
    severity: str = "error"  # error | warning
    code: str = "input"  # yaml | schema | reference | GCnnn ...
    hint: str | None = None

    def format(self) -> str:
        """One line for a terminal or a log; every part that can come from input is escaped."""
        where = printable(str(self.location)) if self.location else "<input>"
        field_part = f"{printable(self.path)}: " if self.path else ""
        hint = f" ({printable(self.hint)})" if self.hint else ""
        return f"{where}: {self.severity}: {field_part}{printable(self.message)}{hint}"

    def to_dict(self) -> dict:
        """The JSON form: escaped like format(), since JSON encoders pass C1 and bidi controls through."""
        loc = self.location
        return {
            "severity": self.severity,
            "code": self.code,
            "path": printable(self.path),
            "message": printable(self.message),
            "hint": printable(self.hint) if self.hint else self.hint,
            "file": printable(loc.file) if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
        }


class GovcloudError(Exception):
    """Base of every error meant for a user (printed without a traceback)."""

    exit_code = 1


class InputError(GovcloudError):
    """One or more problems in a file the user wrote."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    def __reduce__(self):  # pickled with its problems (a validate worker sends it: govcloud.fanout)
        return type(self), (self.problems,)


MAX_REPORTED = 50  # problems located and reported per file; the rest are counted (locating costs per problem)


def more_problems(count: int, location: SourceLocation | None) -> Problem:
    """The last line of a bounded report: how many problems were found and not shown."""
    return Problem(f"{count:,} more problem{'s' if count != 1 else ''} not shown", location=location,
                   code="limit", hint=f"only the first {MAX_REPORTED} are reported; fix these and check again")


# What a terminal or a log viewer would act on instead of showing: C0 controls (ESC starts colour, screen
# clear, window title and OSC 8 link sequences; a newline forges a line), DEL, C1 controls (U+009B is a
# one-character CSI), the bidi embeddings/overrides/isolates (U+202E turns text around) and the zero-width
# and line/paragraph separators. Each becomes the escape YAML's double-quoted strings use for it.
_INVISIBLE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, *range(0x200B, 0x2010),
              *range(0x2028, 0x202F), *range(0x2060, 0x2070), 0xFEFF]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _INVISIBLE}


def printable(text: str) -> str:
    """`text` with every control, bidi and invisible formatting character shown as an escape (\\x1b, \\u202e)."""
    return text.translate(_ESCAPES)


def shorten(text: str, limit: int = 80) -> str:
    """An input value short enough to quote in a message (a key can be a megabyte long)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def format_path(path: Iterable[str | int]) -> str:
    """('spec', 'servers', 1, 'sizeGb') -> 'spec.servers[1].sizeGb'."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{shorten(part)}" if out else shorten(part))
    return "".join(out)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    matches = get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def one_of(choices: Iterable[str]) -> str:
    items = sorted(choices)
    return "one of: " + ", ".join(items) if items else "none are defined"


def choices_hint(name: str, choices: Iterable[str]) -> str:
    """"did you mean 'thr1'?; one of: devcloud, isf1, thr1": the hint for a name that is not one of `choices`."""
    choices = list(choices)
    return "; ".join(filter(None, [did_you_mean(name, choices), one_of(choices)]))


def unknown_name(what: str, name: str, choices: Iterable[str], path: str = "",
                 location: SourceLocation | None = None, *, code: str = "reference", where: str = "") -> Problem:
    """The problem "unknown site 'thr9'" (`where` adds context such as " at site thr1"), with its hint."""
    return Problem(f"unknown {what} '{shorten(name)}'{where}", path, location, code=code,
                   hint=choices_hint(name, choices))


# ---------------------------------------------------------------- the error tree: one exit code per kind
# 1: the user can fix it (input, refusals, a missing prerequisite); 3: the engine or the cloud failed.


class SetupError(GovcloudError):
    """Something the engine needs is missing (passphrase, credentials, toolchain); the message says how to fix it."""

    exit_code = 1


class NoCredentials(SetupError):
    """No OpenStack credentials are configured for a cloud: no clouds.yaml entry, OS_CLOUD or OS_* variables.

    The one setup error an offline command may work around (`agency onboard --plan` shows a placeholder for
    the admin project); any other SetupError (a broken entry, a missing openstacksdk) must stop it."""


class NotDeployed(SetupError):
    """The manifest's stack holds no deployment: there is nothing to read or refresh (deploy it first)."""

    def __init__(self, stack: str, file: str | None):
        super().__init__(f"{stack} is not deployed: run govcloud deploy {file or 'FILE'}")


class RefusedError(GovcloudError):
    """govcloud refused to change anything (data loss, a stale saved plan, no confirmation, drift found)."""

    exit_code = 1


class EngineError(GovcloudError):
    """The engine failed; the message is the provider's / engine's own (exit 3)."""

    exit_code = 3


class StackLockedError(EngineError):
    """Another run holds the stack."""


class EngineInterrupted(EngineError):
    """The operation was interrupted (Ctrl-C / SIGTERM) and stopped safely."""


class CloudError(GovcloudError):
    """An OpenStack API govcloud called directly failed or could not be reached (exit 3)."""

    exit_code = 3
