"""pyflakes over the package and the tests: an undefined name in a rarely run path (an e2e helper, an error
branch) fails here, in seconds, instead of in the middle of a CI run."""
from __future__ import annotations

from pathlib import Path

from pyflakes import api, reporter

ROOT = Path(__file__).resolve().parents[2]


class Collect(reporter.Reporter):
    def __init__(self):
        self.messages: list[str] = []

    def unexpectedError(self, filename, msg):  # noqa: N802 - pyflakes' names
        self.messages.append(f"{filename}: {msg}")

    def syntaxError(self, filename, msg, lineno, offset, text):  # noqa: N802
        self.messages.append(f"{filename}:{lineno}: {msg}")

    def flake(self, message):
        self.messages.append(str(message))


def test_no_pyflakes_messages():
    out = Collect()
    for top in ("govcloud", "tests", "benchmarks", "scripts/devcloud.d", "scripts/toolchain", "docs"):
        for path in sorted((ROOT / top).rglob("*.py")):
            api.checkPath(str(path), out)
    assert out.messages == []
