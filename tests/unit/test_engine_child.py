"""StackEngine's choice of engine child: deploy's preview keeps its child waiting under the lock, and the up of
the same change right after it runs in that child; anything else, or the lock's end, lets it go. The child
processes themselves (the go-ahead over stdin, a log per step) are exercised for real by tests/e2e/test_deploy.py.
"""
from __future__ import annotations

import pytest

from govcloud.check import Workspace, check_manifest
from govcloud.config import ConfigRepo
from govcloud.engine import runner
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.engine.seam import StackEngine

from ..conftest import EXAMPLES


class FakeChild:
    """Stands for runner.EngineChild: records what the engine asked of each child."""

    made: list["FakeChild"] = []

    def __init__(self, op, plan, config, *, allow_data_loss=False, replace=(), message=None, lock=None,
                 passphrase=None, refresh_first=False, interrupts=None, then_up=False):
        self.op, self.plan, self.then_up = op, plan, then_up
        self.args = (allow_data_loss, tuple(replace), refresh_first)
        self.calls: list[str] = [f"start {op}{' then up' if then_up else ''}"]
        self.waiting = False
        FakeChild.made.append(self)

    def step(self, on_event=None):
        self.calls.append("step")
        self.waiting = self.then_up
        return OperationResult(op=str(self.op), stack="s", ok=True)

    def matches(self, *, allow_data_loss, replace, refresh_first, plan):
        return self.waiting and plan is self.plan and (allow_data_loss, tuple(replace), refresh_first) == self.args

    def up(self, *, message=None, on_event=None):
        self.calls.append("up")
        self.waiting = False
        return OperationResult(op="up", stack="s", ok=True)

    def close(self):
        self.calls.append("close")
        self.waiting = False


@pytest.fixture
def engine(monkeypatch, tmp_path):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    FakeChild.made = []
    monkeypatch.setattr(runner, "EngineChild", FakeChild)
    checked = check_manifest(EXAMPLES / "devcloud" / "citizen-portal.yaml", Workspace(ConfigRepo(None)))

    def make(keep_preview=True):
        return StackEngine(checked.plan, checked.workspace.config, passphrase="x", keep_preview=keep_preview)

    return make


def test_the_up_of_the_previewed_change_runs_in_the_previews_child(engine):
    e = engine()
    with e.lock("govcloud deploy"):
        e.run(EngineOp.PREVIEW, replace=("server-web-1",))
        e.run(EngineOp.UP, replace=("server-web-1",), message="m")
    (child,) = FakeChild.made
    assert child.calls == ["start preview then up", "step", "up"]


def test_an_up_of_another_change_gets_its_own_child(engine):
    e = engine()
    with e.lock("govcloud deploy"):
        e.run(EngineOp.PREVIEW)
        e.run(EngineOp.UP, allow_data_loss=True)  # not what was previewed
    kept, fresh = FakeChild.made
    assert kept.calls == ["start preview then up", "step", "close"]
    assert fresh.calls == ["start up", "step"]


def test_the_locks_end_lets_a_waiting_child_go(engine):
    e = engine()
    with pytest.raises(RuntimeError):
        with e.lock("govcloud deploy"):
            e.run(EngineOp.PREVIEW)
            raise RuntimeError("refused: the data-loss guard, say")
    (child,) = FakeChild.made
    assert child.calls == ["start preview then up", "step", "close"]


@pytest.mark.parametrize("keep_preview, locked", [(False, True), (True, False)])
def test_no_child_is_kept_unless_deploy_asks_under_the_lock(engine, keep_preview, locked):
    e = engine(keep_preview)
    if locked:
        with e.lock("govcloud diff"):
            e.run(EngineOp.PREVIEW)
    else:
        e.run(EngineOp.PREVIEW)
    e.run(EngineOp.UP)
    assert [c.calls for c in FakeChild.made] == [["start preview", "step"], ["start up", "step"]]
