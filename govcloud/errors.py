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
        where = str(self.location) if self.location else "<input>"
        field_part = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.severity}: {field_part}{self.message}{hint}"

    def to_dict(self) -> dict:
        loc = self.location
        return {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "file": loc.file if loc else None,
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


def format_path(path: Iterable[str | int]) -> str:
    """('spec', 'servers', 1, 'sizeGb') -> 'spec.servers[1].sizeGb'."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    matches = get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def one_of(choices: Iterable[str]) -> str:
    items = sorted(choices)
    return "one of: " + ", ".join(items) if items else "none are defined"
