"""The engine child: `python -m govcloud.engine --worker` runs one operation with the Automation API.

The request (plan, location, options) comes as a JSON line on stdin; the engine's raw events, then a
result or an error, go back as JSON lines on the protocol pipe. Anything libraries print goes to the log.
A preview asked with `thenUp` then waits for one more line: the parent's go-ahead (after its data-loss
guard and confirmation) to apply the same change in this process, or the end of stdin to exit.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping

from govcloud.errors import GovcloudError
from govcloud.plan.model import ResourcePlan

from govcloud.engine.command import engine_env, pulumi_command
from govcloud.engine.runner import ENGINE_SOCKET_ENV
from govcloud.engine.stack import StackLocation
from govcloud.engine.command import cli_error_text, ensure_workdir, is_wrong_passphrase, wrong_passphrase
from govcloud.errors import EngineError, SetupError, StackLockedError


def _install_raw_event_hook() -> bool:
    """Make the Automation API hand our callback the engine's raw JSON events.

    The SDK turns each raw event into EngineEvent.from_json(...) before calling
    on_event; that parser has broken on real events (detailedDiff, unknown ops),
    dropping them. We replace the class it calls with one that keeps the raw
    dict (plus the two attributes the SDK itself reads: summary_event for
    preview results, cancel_event to stop watching a log file).
    """
    try:
        from pulumi.automation import _stack
    except ImportError:  # pragma: no cover
        return False
    if not hasattr(_stack, "EngineEvent"):
        return False

    class _Summary:
        def __init__(self, data: Mapping):
            rc = data.get("resourceChanges")
            self.resource_changes = dict(rc) if isinstance(rc, Mapping) else {}
            self.duration_seconds = data.get("durationSeconds")
            self.maybe_corrupt = data.get("maybeCorrupt")

    class RawEngineEvent:
        def __init__(self, data: Any):
            self.raw = data if isinstance(data, Mapping) else {}
            self.cancel_event = True if "cancelEvent" in self.raw else None
            s = self.raw.get("summaryEvent")
            self.summary_event = _Summary(s) if isinstance(s, Mapping) else None

        @classmethod
        def from_json(cls, data: Any) -> "RawEngineEvent":
            return cls(data)

    _stack.EngineEvent = RawEngineEvent
    return True


def main() -> int:
    """`python -m govcloud.engine --worker`: one engine operation; the request is a JSON line on stdin (after a
    kept preview, a second line is the parent's go-ahead to apply it; see runner.EngineChild)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed by libraries goes to the log, never into the protocol
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, lambda s, f: None)  # the parent forwards Ctrl-C to the CLI; we keep serving
    signal.signal(signal.SIGTERM, lambda s, f: None)
    lock = threading.Lock()
    dead = {"pipe": False}

    def send(obj: dict) -> None:
        if dead["pipe"]:
            return
        with lock:
            try:
                proto.write(json.dumps(obj, default=str) + "\n")
            except (BrokenPipeError, OSError):
                dead["pipe"] = True  # the parent is gone: finish the operation anyway

    req_stack = "this stack"
    try:
        t_start = time.monotonic()
        # imported before the request comes: a child started ahead (runner.ChildProcess) is ready when it does
        for module in ("pulumi.automation", "govcloud.engine.program"):
            importlib.import_module(module)

        imports = time.monotonic() - t_start
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # let go before any request: nothing to do
        req = json.loads(line)
        req_stack = f"{req['location']['project']}/{req['location']['stack']}"
        _receive_lock(req)  # open until this process ends (never closed): the stack stays locked while it runs
        if req.get("lockHeartbeat"):
            from govcloud.shared.locks import child_heartbeat

            child_heartbeat(req["lockHeartbeat"])  # the lock lives while this child does, even if its parent dies
        for result in _worker_run(req, send, _go_ahead, imports=imports):
            send({"t": "result", **result})
        return 0
    except GovcloudError as exc:
        send({"t": "error", "kind": "setup" if isinstance(exc, SetupError) else
              "locked" if isinstance(exc, StackLockedError) else "engine", "message": str(exc)})
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent, traceback in the log
        import traceback

        traceback.print_exc()
        kind, message = "crash", f"{type(exc).__name__}: {exc}"
        try:
            from pulumi.automation import errors as auto_errors

            if isinstance(exc, auto_errors.CommandError):
                message = cli_error_text(exc)
                kind = "locked" if ("currently locked" in message or isinstance(
                    exc, auto_errors.ConcurrentUpdateError)) else "engine"
                if is_wrong_passphrase(message):
                    kind = "setup"
                    message = str(wrong_passphrase(req_stack, message))
        except ImportError:  # pragma: no cover
            pass
        send({"t": "error", "kind": kind, "message": message})
        return 1


def _receive_lock(req: dict) -> list[int]:
    """The stack lock's descriptor the parent sends over the engine socket (runner.ChildProcess) with the
    request; none when the request says there is no lock to hold."""
    raw = os.environ.pop(ENGINE_SOCKET_ENV, "")
    if not raw:
        return []
    with socket.socket(fileno=int(raw)) as sock:
        if not req.get("lockFd"):
            return []
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
    if not fds:
        raise EngineError("the engine child did not receive the stack lock it was asked to hold")
    return fds


def _go_ahead() -> dict | None:
    """The parent's go-ahead to apply a kept preview's change ({"go": true, "log": ..., "message": ...}), or None
    when it lets the child go (the end of stdin: it decided otherwise, or it is gone)."""
    line = sys.stdin.readline()
    try:
        go = json.loads(line) if line.strip() else None
    except ValueError:
        return None
    return go if isinstance(go, dict) and go.get("go") is True else None


def _log_to(path: str) -> None:
    """Send this process's output (the engine's and the libraries') to the next step's log file."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)


def _worker_run(req: dict, send: Callable[[dict], None], go_ahead: Callable[[], dict | None], *,
                imports: float = 0.0) -> Iterator[dict]:
    """The results of the request's steps: one operation, or (thenUp) a preview and, on the go-ahead, an up.
    `imports`: the seconds main() spent importing before the request came (reported as the step's imports)."""
    t_setup = time.monotonic()
    from pulumi import automation as auto

    op = req["op"]
    print(f"govcloud engine child {os.getpid()}: {op}", file=sys.stderr, flush=True)
    loc, ws, stack, created = _open_stack(auto, req, op)
    _summary_without_history(auto, stack)
    hooked = _install_raw_event_hook()
    t_ready = time.monotonic()
    timing = {"imports": round(imports, 3), "setup": round(t_ready - t_setup, 3)}

    def on_event(event: Any) -> None:
        raw = getattr(event, "raw", None)
        if raw is None and not hooked:  # pragma: no cover - an SDK without the hook point
            raw = _sdk_event_to_raw(event)
        send({"t": "event", "e": raw})

    def on_output(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    common = {"on_event": on_event, "on_output": on_output, "on_error": on_output, "color": "never"}

    def up(message: str | None) -> dict:
        res = stack.up(replace=req.get("replace") or None, message=message,
                       refresh=bool(req.get("refresh")) or None, **common)
        # every output is a secret at rest (program.stack_outputs); to the stack's own run they are its facts
        return {"outputs": {k: v.value for k, v in res.outputs.items()}}

    out: dict = {}
    if op == "preview":
        try:
            stack.preview(diff=False, refresh=bool(req.get("refresh")) or None, replace=req.get("replace") or None,
                          **common)
        except BaseException:
            if created:
                _remove_new_stack(ws, loc)
            raise
        if created and not req.get("thenUp"):
            _remove_new_stack(ws, loc)
    elif op == "up":
        out = up(req.get("message"))
    elif op == "refresh":
        stack.refresh(message=req.get("message"), run_program=True, **common)
    elif op == "refresh-preview":
        stack.preview_refresh(run_program=True, **common)
    elif op == "destroy":
        stack.destroy(message=req.get("message"), run_program=True, **common)
    else:
        raise ValueError(f"unknown operation {op}")
    timing["engine"] = round(time.monotonic() - t_ready, 3)
    out["timing"] = timing
    yield out
    if op == "preview" and req.get("thenUp"):
        go = go_ahead()
        if go is None:
            print("govcloud engine child: no go-ahead for the previewed change; exiting, nothing applied",
                  file=sys.stderr, flush=True)
            if created:
                _remove_new_stack(ws, loc)
            return
        _log_to(go["log"])
        print(f"govcloud engine child {os.getpid()}: up (the change previewed in this process)", file=sys.stderr,
              flush=True)
        t_go = time.monotonic()
        out = up(go.get("message"))
        out["timing"] = {"imports": 0.0, "setup": 0.0, "engine": round(time.monotonic() - t_go, 3)}
        yield out


def _open_stack(auto, req: dict, op: str):
    """(location, workspace, stack, created) for the request: the plan's program, the engine's environment, and
    the stack selected, or created (created True) unless the operation needs one that exists."""
    from govcloud.engine.program import ProgramRun, ProviderConfig, build_program

    loc = StackLocation(req["location"]["project"], req["location"]["stack"], req["location"]["backendUrl"],
                        req["location"]["stateDir"])
    plan = ResourcePlan.from_json(req["plan"])
    # the parent read the credentials (its access check did): no openstacksdk import here
    run = ProgramRun()
    program = build_program(plan, ProviderConfig(**req["provider"]), allow_data_loss=bool(req.get("allowDataLoss")),
                            record=run)
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")
    env = engine_env(loc, passphrase, req.get("toolchainEnv"))
    if op == "refresh-preview":
        # the CLI reads PULUMI_SKIP_CONFIRMATIONS as --yes, which it refuses next to --preview-only
        env.pop("PULUMI_SKIP_CONFIRMATIONS", None)
        os.environ.pop("PULUMI_SKIP_CONFIRMATIONS", None)
    os.environ.update(env)
    ensure_workdir(loc)
    ws = _workspace(auto, loc, run, work_dir=str(loc.work_dir), program=program, env_vars=env,
                    secrets_provider="passphrase", pulumi_command=pulumi_command(req.get("pulumi")))
    try:
        return loc, ws, auto.Stack.select(loc.stack, ws), False
    except auto.StackNotFoundError:
        if op in ("refresh", "refresh-preview", "destroy"):
            raise EngineError(f"stack {loc.name} does not exist: nothing was deployed from this manifest yet")
        # created: a preview only (diff, a refused or declined deploy) removes it again
        return loc, ws, auto.Stack.create(loc.stack, ws), True


def _summary_without_history(auto, stack) -> None:
    """stack.up(), refresh() and destroy() end with `pulumi stack history` (a CLI run that decrypts the state:
    0.3-0.4 s) only to put the update's summary in their result, which govcloud does not read: the engine's
    events say what changed, and the parent counts them. So this stack's summary is what this process knows:
    the operation succeeded (they ask for it only then) and when this child began and asked."""
    started = datetime.now()

    def info(show_secrets: bool = True):
        return auto.UpdateSummary(kind="update", start_time=started, message="", environment={}, config={},
                                  result="succeeded", end_time=datetime.now())

    stack.info = info


def _remove_new_stack(ws, loc: StackLocation) -> None:
    """A stack this child created for a preview that nothing followed is removed again: a diff, or a deploy
    refused or declined after its preview, leaves the backend as it found it (`pulumi preview` of a stack that
    does not exist creates nothing either). Without --force the CLI removes only a stack with no resources,
    so a stack another run has deployed to meanwhile stays. (A file backend keeps the removed stack's file as
    `<stack>.json.bak`, as for any `pulumi stack rm`; the stack no longer exists for the CLI or govcloud.)"""
    try:
        ws.remove_stack(loc.stack)
    except Exception as exc:  # the preview's outcome stands; the empty stack is harmless, say so and go on
        print(f"govcloud engine child: could not remove the empty stack {loc.name} this preview created: {exc}",
              file=sys.stderr, flush=True)


def _workspace(auto, loc: StackLocation, run=None, **options):
    """The Automation API's LocalWorkspace of the location, which takes a stack whose checkpoint a file://
    backend holds, and whose settings this work directory has, as it is: `pulumi stack select` would only record
    it as the workspace's current stack (a CLI run, 0.2-0.3 s of every operation) and every operation names its
    stack (`--stack`) anyway. A stack the file backend does not hold is not found without asking the CLI
    either (the first deploy then creates it). Other backends go through the CLI.

    `stack.up()` reads the stack's outputs back after the engine's run with two CLI runs (`pulumi stack output`,
    masked and with the secrets: each starts the CLI and decrypts the state). The program ran in this process and
    kept their values (`run`, a ProgramRun: set once every output is known, in an up), so the workspace gives
    those: the same values, without the two runs. When the program kept none, the CLI is asked as before."""
    settings = loc.work_dir / f"Pulumi.{loc.stack}.yaml"

    class Workspace(auto.LocalWorkspace):
        def stack_outputs(self, stack_name: str):
            if stack_name == loc.stack and run is not None and run.outputs is not None:
                # every output of a govcloud stack is a secret (program.stack_outputs)
                return {k: auto.OutputValue(value=v, secret=True) for k, v in run.outputs.items()}
            return super().stack_outputs(stack_name)

        def select_stack(self, stack_name: str) -> None:
            if stack_name == loc.stack and loc.backend_path() is not None:
                if not loc.has_checkpoint():  # the file backend holds no such stack: the CLI would say so
                    raise auto.StackNotFoundError(auto.CommandResult("", f"no stack named '{stack_name}' found", -2))
                if settings.is_file():
                    return
            super().select_stack(stack_name)

    return Workspace(**options)


def _sdk_event_to_raw(event: Any) -> dict:  # pragma: no cover - fallback only
    """Best effort when the SDK offers no raw events: enough for summaries and diagnostics."""
    out: dict = {"sequence": getattr(event, "sequence", 0)}
    s = getattr(event, "summary_event", None)
    if s is not None:
        out["summaryEvent"] = {"resourceChanges": {str(getattr(k, "value", k)): v for k, v in
                                                   (s.resource_changes or {}).items()}}
    d = getattr(event, "diagnostic_event", None)
    if d is not None:
        out["diagnosticEvent"] = {"message": d.message, "severity": d.severity, "urn": d.urn or ""}
    for attr, key in (("resource_pre_event", "resourcePreEvent"), ("res_outputs_event", "resOutputsEvent")):
        e = getattr(event, attr, None)
        if e is not None and e.metadata is not None:
            md = e.metadata
            out[key] = {"metadata": {"op": str(getattr(md.op, "value", md.op)), "urn": md.urn, "type": md.type,
                                     "diffs": md.diffs or []}}
    if getattr(event, "cancel_event", None) is not None:
        out["cancelEvent"] = {}
    return out
