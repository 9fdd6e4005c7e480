"""A fake Engine (govcloud.engine.seam) for unit tests of the workflows in govcloud.ops.

It replays engine results built from the recorded real event logs in tests/fixtures/events/ (through
OperationResult.from_events, the same parsing run_operation does) and records every call, so a test can
assert what a workflow asked of the engine, in which order, and what it never asked.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import yaml

from govcloud.cloud.access import Access
from govcloud.engine.recovery import Recovery
from govcloud.engine.runner import EngineOp, ErrorKind, OperationResult
from govcloud.engine.stack import StackState
from govcloud.errors import StackLockedError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
STACK = "govcloud-moe/citizen-portal-review-dev"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def write_manifest(tmp_path: Path, name: str = "create", **metadata) -> str:
    """The manifest a fixture was recorded with, written to tmp_path (metadata overrides, e.g. environment)."""
    m = fixture(name)["manifest"]
    m["metadata"].update(metadata)
    path = tmp_path / "services" / "portal.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(m, sort_keys=False), encoding="utf-8")
    return str(path)


def replayed(name: str, op: str = "preview") -> OperationResult:
    return OperationResult.from_events(op, fixture(name)["events"], stack=STACK)


def failed(op: str, error: str, kind: ErrorKind = ErrorKind.ENGINE) -> OperationResult:
    return OperationResult(op=op, stack=STACK, ok=False, error=error, error_kind=kind)


def nothing(op: str = "preview") -> OperationResult:
    return OperationResult(op=op, stack=STACK, ok=True)


def export(*resources: tuple[str, str, dict]) -> dict:
    """A stack export holding (key, type token, inputs) resources, as `pulumi stack export` prints it."""
    return {"version": 3, "deployment": {"resources": [
        {"urn": f"urn:pulumi:citizen-portal-review-dev::govcloud-moe::{t}::{k}", "type": t, "id": f"id-{k}",
         "custom": True, "inputs": inputs, "outputs": inputs, "protect": t.endswith("Volume")}
        for k, t, inputs in resources]}}


class FakeEngine:
    def __init__(self, *, results: dict | None = None, state: dict | None = None, locked: bool = False,
                 recovery: Recovery | None = None, access: Access | Exception | None = None):
        self.results = {EngineOp(k): (v if isinstance(v, list) else [v]) for k, v in (results or {}).items()}
        self._state = state
        self.locked = locked
        self.recovery = recovery or Recovery((), False, state)
        self.calls: list = []
        self.runs: list[tuple[str, dict]] = []  # every run with its options (`options` keeps the last per op)
        self.unprotected: list = []
        self.held = False
        self.stack_tags: dict[str, str] = {}
        # the agency's own member credentials, unless a test gives others (or the refusal they meet)
        self.access = access or Access("devcloud", "moe-ci", "gov-moe", "p-moe", ("member", "reader"))

    @property
    def name(self) -> str:
        return STACK

    def check_access(self) -> Access:
        assert not self.held, "the credentials are checked before the stack is locked"
        self.calls.append("access")
        if isinstance(self.access, Exception):
            raise self.access
        return self.access

    @contextmanager
    def lock(self, command: str):
        if self.locked:
            raise StackLockedError(f"stack {STACK} is locked by govcloud deploy (pid 4242, ci@runner, since now)")
        self.calls.append("lock")
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def recover(self) -> Recovery:
        assert self.held, "recovery outside the stack lock"
        self.calls.append("recover")
        return self.recovery

    def state(self) -> StackState | None:
        return StackState.from_export(self._state)

    def run(self, op, **options) -> OperationResult:
        # a preview records nothing: diff runs it without govcloud's lock (the engine takes its own)
        assert self.held or op == EngineOp.PREVIEW, f"{op} outside the stack lock"
        self.calls.append(str(op))
        self.options = getattr(self, "options", {})
        self.options[str(op)] = options
        self.runs.append((str(op), options))
        queue = self.results.get(EngineOp(op))
        if not queue:
            raise AssertionError(f"the workflow ran {op}, which this test did not expect")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def exists(self) -> bool:
        return self._state is not None or "up" in self.calls

    def tags(self) -> dict[str, str]:
        return dict(self.stack_tags)

    def set_tag(self, name: str, value: str) -> None:
        assert self.exists(), "a tag on a stack that does not exist"
        self.calls.append(f"tag {name}")
        self.stack_tags[name] = value

    def unprotect(self, urns=None):
        self.calls.append("unprotect")
        self.unprotected.append(None if urns is None else list(urns))
        return list(urns or [])

    def factory(self):
        """What deploy's engine_factory is: (checked, hooks), and `ahead` (the first operation) when deploy
        names it, kept in self.ahead."""
        def made(checked, hooks, **options):
            self.ahead = options.pop("ahead", None)
            assert not options, options
            return self

        return made
