"""StackEngine's choice of engine child: deploy's preview keeps its child waiting under the lock, and the up of
the same change right after it runs in that child; anything else, or the lock's end, lets it go. The child
processes themselves (the go-ahead over stdin, a log per step) are exercised for real by tests/e2e/test_deploy.py.
"""
from __future__ import annotations

import pytest

from govcloud.check import Workspace, check_manifest
from govcloud.config import ConfigRepo
from govcloud.cloud import credentials
from govcloud.engine import runner
from govcloud.engine.program import placeholder_provider_config
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.engine.seam import StackEngine

from ..conftest import EXAMPLES


class FakeChild:
    """Stands for runner.EngineChild: records what the engine asked of each child."""

    made: list["FakeChild"] = []

    def __init__(self, op, plan, config, *, allow_data_loss=False, replace=(), message=None, lock=None,
                 passphrase=None, refresh_first=False, interrupts=None, then_up=False, provider=None,
                 process=None):
        self.op, self.plan, self.then_up, self.provider, self.process = op, plan, then_up, provider, process
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
    reads = []  # the credentials are read in the parent, once per stack engine, and handed to each child
    monkeypatch.setattr(credentials, "provider_config",
                        lambda plan: reads.append(plan) or placeholder_provider_config(plan))
    FakeChild.reads = reads
    checked = check_manifest(EXAMPLES / "devcloud" / "citizen-portal.yaml", Workspace(ConfigRepo(None)))

    def make(keep_preview=True, ahead=None):
        return StackEngine(checked.plan, checked.workspace.config, passphrase="x", keep_preview=keep_preview,
                           ahead=ahead)

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


class Spare:
    """Stands for the runner.ChildProcess the access check starts ahead."""

    def __init__(self, op):
        self.op, self.closed = op, False

    def close(self):
        self.closed = True


@pytest.mark.parametrize("ahead, op, used", [
    (None, EngineOp.PREVIEW, True),  # deploy: the preview's child
    (EngineOp.UP, EngineOp.UP, True),  # deploy --skip-preview: the up's
    (EngineOp.UP, EngineOp.PREVIEW, False),
    (None, EngineOp.UP, False),
])
def test_the_child_started_ahead_runs_only_the_operation_it_was_started_for(engine, ahead, op, used):
    e = engine(ahead=ahead)
    assert e.ahead == (ahead or EngineOp.PREVIEW)  # what check_access starts
    spare = e._spare = Spare(e.ahead)
    with e.lock("govcloud deploy"):
        e.run(op)
    (child,) = FakeChild.made
    assert (child.process is spare) is used
    assert spare.closed is not used  # one never used ends with the lock


def test_the_credentials_are_read_once_in_the_parent_for_every_child(engine):
    e = engine()
    with e.lock("govcloud deploy"):
        e.run(EngineOp.PREVIEW)
        e.run(EngineOp.UP, allow_data_loss=True)  # another change: a second child
    first, second = FakeChild.made
    assert len(FakeChild.reads) == 1
    assert first.provider is second.provider is not None
    assert first.provider.project == e.plan.service.project


def test_the_lock_handed_to_a_child_stays_held_when_the_parent_lets_its_own_go(tmp_path, monkeypatch):
    # what the child does with the socket the parent started it with (runner.ChildProcess.hand): the
    # descriptor it receives shares the parent's flock, so the stack stays locked while the child runs
    import fcntl
    import os
    import socket

    from govcloud.engine import worker

    lock_file = tmp_path / "stack.lock"
    held = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    monkeypatch.setenv(runner.ENGINE_SOCKET_ENV, str(child.detach()))
    socket.send_fds(parent, [b"L"], [held])
    (received,) = worker._receive_lock({"lockFd": True})
    os.close(held)  # the parent's own descriptor is gone (it died, or let the lock go)
    other = os.open(lock_file, os.O_RDWR)
    with pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(received)  # the child ends: the lock is free
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)
    parent.close()


def test_a_request_without_a_lock_takes_none_from_the_socket(monkeypatch):
    import socket

    from govcloud.engine import worker

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    monkeypatch.setenv(runner.ENGINE_SOCKET_ENV, str(child.detach()))
    assert worker._receive_lock({"lockFd": False}) == []
    assert runner.ENGINE_SOCKET_ENV not in __import__("os").environ  # not passed on to the Pulumi CLI
    parent.close()


def test_a_child_started_ahead_and_never_used_exits_and_leaves_no_log(tmp_path):
    from govcloud.engine.stack import StackLocation

    loc = StackLocation("govcloud-t", "portal-dev", f"file://{tmp_path / 'state'}", str(tmp_path))
    spare = runner.ChildProcess.start(loc, EngineOp.PREVIEW, "a passphrase")
    assert spare.log_file.is_file()
    spare.close()
    assert spare.proc.returncode == 0
    assert not spare.log_file.exists()


@pytest.mark.parametrize("files, held", [
    ((), False),
    (("portal-dev.json.bak", "portal-dev.json.bak.attrs"), False),  # what `pulumi stack rm` leaves
    (("portal-dev.json.attrs",), False),
    (("portal-dev.json",), True),
    (("portal-dev.json.gz",), True),  # a compressing backend
    (("portal-dev-2.json",), False),  # another stack
])
def test_a_file_backend_holds_the_stack_only_with_its_checkpoint(tmp_path, files, held):
    assert file_backend(tmp_path, files).has_checkpoint() is held


def file_backend(tmp_path, files):
    """The location of stack govcloud-t/portal-dev in a file:// backend under tmp_path holding `files`."""
    from govcloud.engine.stack import StackLocation

    loc = StackLocation("govcloud-t", "portal-dev", f"file://{tmp_path / 'state'}", str(tmp_path))
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "govcloud-t"
    stacks.mkdir(parents=True)
    for name in files:
        (stacks / name).write_text("{}")
    return loc


class RecordingCli:
    """The PulumiCommand a workspace runs: records every CLI run and answers `up` and `stack output`."""

    command = "pulumi"

    def __init__(self, stored: dict):
        from semver import VersionInfo

        self.version = VersionInfo.parse("3.274.1")  # the toolchain's (refresh and destroy check it)
        self.runs: list[list[str]] = []
        self.stored = stored  # what `pulumi stack output --show-secrets --json` reads from the state

    def run(self, args, cwd, additional_env, on_output=None, on_error=None):
        import json

        from pulumi import automation as auto

        args = [a for a in args if a != "--non-interactive"]
        self.runs.append(args)
        if args[:2] == ["stack", "output"]:
            shown = "--show-secrets" in args
            return auto.CommandResult(json.dumps({k: v if shown else "[secret]" for k, v in self.stored.items()}),
                                      "", 0)
        return auto.CommandResult("", "", 0)


def child_stack(tmp_path, run, cli):
    """The engine child's stack of a file backend that holds it (worker._workspace), running `cli`."""
    from pulumi import automation as auto

    from govcloud.engine import worker

    loc = file_backend(tmp_path, ["portal-dev.json"])
    loc.work_dir.mkdir(parents=True, exist_ok=True)
    (loc.work_dir / "Pulumi.portal-dev.yaml").write_text("{}\n")
    ws = worker._workspace(auto, loc, run, work_dir=str(loc.work_dir), program=lambda: None,
                           pulumi_command=cli, project_settings=auto.ProjectSettings(name="govcloud-t",
                                                                                     runtime="python"))
    stack = auto.Stack.select(loc.stack, ws)
    worker._summary_without_history(auto, stack)
    return stack


@pytest.mark.parametrize("kept", [True, False])
def test_an_up_runs_the_cli_once_and_hands_back_the_outputs_its_program_kept(tmp_path, kept):
    """stack.up() reads the outputs back (`pulumi stack output` twice) and the summary (`pulumi stack history`)
    after the engine's run; the child's stack takes the outputs its program kept in this process and needs no
    summary, so `up` is the only CLI run. A program that kept none (never so after an up) asks the CLI."""
    from govcloud.engine.program import ProgramRun

    stored = {"networkId": "net-1", "servers": {"web-1": {"id": "i-1", "floatingIp": None}}}
    run = ProgramRun()
    if kept:
        run.outputs = dict(stored)
    cli = RecordingCli(stored)
    res = child_stack(tmp_path, run, cli).up(message="govcloud deploy m.yaml")
    assert {k: v.value for k, v in res.outputs.items()} == stored
    assert res.summary.result == "succeeded"
    commands = [r[:2] for r in cli.runs]
    assert commands == ([["up", "--yes"]] if kept else [["up", "--yes"], ["stack", "output"], ["stack", "output"]])


@pytest.mark.parametrize("op", ["refresh", "destroy"])
def test_a_refresh_or_destroy_runs_the_cli_once(tmp_path, op):
    """refresh() and destroy() end with `pulumi stack history` for a summary govcloud does not read."""
    cli = RecordingCli({})
    res = getattr(child_stack(tmp_path, None, cli), op)(message=f"govcloud {op}")
    assert res.summary.result == "succeeded"
    assert [r[0] for r in cli.runs] == [op]
