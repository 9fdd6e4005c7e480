"""Run one engine operation in a child process and turn its raw events into an OperationResult.

Inline Python programs keep global state in the pulumi runtime, so every operation that runs the
program (preview, up, refresh, destroy) runs in a child process, `python -m govcloud.engine --worker`,
in its own process group. It streams the engine's raw events back as JSON lines; the parent parses
them with govcloud.engine.events. Ctrl-C (SIGINT/SIGTERM) in the parent is forwarded to the child's
group: the Pulumi CLI then stops starting new resource operations, waits for the ones in flight and
exits with the state consistent (Ctrl-C twice: the CLI stops at once; three times: the child is
killed). If the parent dies, the child finishes its operation: it holds the stack's lock too (the
descriptor comes over a Unix socket with the request, so a child can be started before the lock is taken:
ChildProcess). The parent reads the credentials and hands the provider's configuration in the request,
so the child never imports openstacksdk.
Work over many manifests runs such children in parallel threads, sharing one Interrupts.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.plan.model import ResourcePlan

from govcloud.engine.command import engine_env, pulumi_tool
from govcloud.engine.locks import StackLock
if TYPE_CHECKING:
    from govcloud.engine.program import ProviderConfig
    from govcloud.shared.locks import DatabaseStackLock
from govcloud.cloud.credentials import provider_config
from govcloud.engine.command import ensure_workdir
from govcloud.engine.recovery import unsure_create
from govcloud.engine.stack import StackLocation, locate, urn_of
from govcloud.settings import read_passphrase
from govcloud.errors import EngineError, EngineInterrupted, SetupError, StackLockedError


class EngineOp(StrEnum):
    """The engine operations that run the program. REFRESH_PREVIEW reads the cloud like a refresh but records
    nothing (refresh --check)."""

    PREVIEW = "preview"
    UP = "up"
    REFRESH = "refresh"
    REFRESH_PREVIEW = "refresh-preview"
    DESTROY = "destroy"


class ErrorKind(StrEnum):
    """Why an operation failed, as the engine child reports it; each maps to one error class."""

    ENGINE = "engine"  # the provider or the engine: its messages say what (exit 3)
    LOCKED = "locked"  # another run holds the stack
    INTERRUPTED = "interrupted"  # Ctrl-C: stopped after the operations in flight
    SETUP = "setup"  # something the engine needs is missing (exit 1)
    CRASH = "crash"  # the child died without a word (its log says why)


_ERROR_CLASS = {ErrorKind.LOCKED: StackLockedError, ErrorKind.INTERRUPTED: EngineInterrupted,
                ErrorKind.SETUP: SetupError}


@dataclass(frozen=True)
class OperationResult:
    op: str
    stack: str  # project/stack
    ok: bool
    changes: tuple[ev.ResourceChange, ...] = ()
    failed: tuple[ev.ResourceChange, ...] = ()
    diagnostics: tuple[ev.Diagnostic, ...] = ()
    protected: tuple[str, ...] = ()  # keys the engine refused to delete/replace because they are protected
    other_errors: tuple[str, ...] = ()  # errors besides those
    summary: ev.Summary | None = None
    outputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None
    error_kind: ErrorKind | None = None
    duration: float = 0.0
    timing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # the child's phases
    log_file: str | None = None
    # creates the engine reports as failed that may have reached the cloud (recovery.unsure_create)
    unsure_creates: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_log(cls, op: str, stack: str, log: ev.EventLog, *, ok: bool, **fields: Any) -> "OperationResult":
        """The result of an operation whose events `log` collected: its changes (each with the old inputs the
        engine reported), failures, diagnostics, summary and protection errors; `fields` sets the rest."""
        return cls(op=op, stack=stack, ok=ok, changes=log.changes(), failed=log.failed(),
                   diagnostics=tuple(log.diagnostics), summary=log.summary, protected=log.protection_blocked(),
                   other_errors=tuple(log.other_errors()), **fields)

    @classmethod
    def from_events(cls, op: str, events: Iterable[Any], *, stack: str = "") -> "OperationResult":
        """What run_operation returns for these raw engine events (a recorded log, a replayed fixture): failed,
        with the engine's error messages, when they hold an error diagnostic."""
        log = ev.EventLog().extend(events)
        messages = log.error_messages()
        if not log.errors():
            return cls.from_log(op, stack, log, ok=True)
        return cls.from_log(op, stack, log, ok=False, error="\n".join(messages) or f"{op} failed",
                            error_kind=ErrorKind.ENGINE)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.op] = out.get(c.op, 0) + 1
        return out

    @property
    def blocked_only_by_protection(self) -> bool:
        """A preview that computed every change and failed only because protected data would be lost."""
        return not self.ok and self.error_kind == "engine" and bool(self.protected) and not self.other_errors

    def changing(self) -> tuple[ev.ResourceChange, ...]:
        return tuple(c for c in self.changes if c.op in ev.CHANGING_OPS)

    def raise_for_error(self) -> "OperationResult":
        if self.ok:
            return self
        cls = _ERROR_CLASS.get(self.error_kind, EngineError)
        raise cls(self.error or f"{self.op} failed")

    def to_json(self) -> dict:
        return {"operation": self.op, "stack": self.stack, "ok": self.ok, "error": self.error,
                "durationSeconds": round(self.duration, 2), "counts": self.counts(),
                "summary": self.summary.to_json() if self.summary else None,
                "changes": [c.to_json() for c in self.changes],
                "failed": [c.key for c in self.failed],
                "diagnostics": [{"severity": d.severity, "resource": d.key, "message": d.message}
                                for d in self.diagnostics if d.severity in ("error", "warning")]}


class Interrupts:
    """Ctrl-C and SIGTERM while engine children run: forwarded to their process groups, counted.

    The first signal asks the Pulumi CLI to stop after the resource operations in flight, the second
    to stop at once, the third kills the children. Owned by the caller of `run_operation` (one per
    command), never by the module, so tests and workers can run operations side by side. `notice`
    tells the user what happens (the CLI prints it above its progress display). Handlers are only
    installed in the main thread (Python's rule); elsewhere signals keep their defaults.
    """

    def __init__(self, notice: Callable[[str], None] | None = None):
        self.notice = notice
        self.count = 0
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._saved: dict | None = None
        self._depth = 0

    def __enter__(self) -> "Interrupts":
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            self.count = 0
            self._saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0 and self._saved:
            for s, h in self._saved.items():
                signal.signal(s, h)
            self._saved = None

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def track(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._live.add(proc)

    def untrack(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._live.discard(proc)

    def _on_signal(self, signum, frame) -> None:  # pragma: no cover - exercised by the e2e interrupt test
        self.count += 1
        n = self.count
        sig = signal.SIGKILL if n >= 3 else signal.SIGINT
        with self._lock:
            procs = list(self._live)
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        msg = ("interrupted: the engine stops after the resource operations in flight (Ctrl-C again to stop at "
               "once)" if n == 1 else "interrupted again: stopping the engine now" if n == 2 else "killing the engine")
        if self.notice is not None:
            self.notice(msg)


def run_operation(op: str, plan: ResourcePlan, config: ConfigRepo, *, allow_data_loss: bool = False,
                  replace: Sequence[str] = (), on_event: Callable[[ev.Event], None] | None = None,
                  message: str | None = None, lock: StackLock | DatabaseStackLock | None = None,
                  passphrase: str | None = None, refresh_first: bool = False,
                  interrupts: Interrupts | None = None) -> OperationResult:
    """Run preview | up | refresh | destroy of the plan's stack in a child process; events go to `on_event`."""
    child = EngineChild(op, plan, config, allow_data_loss=allow_data_loss, replace=replace, message=message,
                        lock=lock, passphrase=passphrase, refresh_first=refresh_first, interrupts=interrupts)
    return child.step(on_event)


class EngineChild:
    """One engine child process (`python -m govcloud.engine --worker`): one operation, or, with `then_up`, a
    preview after which the child waits for the parent's go-ahead to apply the same change in the same process
    (deploy: the data-loss guard and the confirmation come in between). That spares the apply a child start-up,
    the imports and the workspace set-up (about 0.7 s of a deploy). Each step has its own log and events file,
    as if it had run alone. Without the go-ahead (close(), or the parent gone: end of stdin) the child exits
    having changed nothing."""

    def __init__(self, op: str, plan: ResourcePlan, config: ConfigRepo, *, allow_data_loss: bool = False,
                 replace: Sequence[str] = (), message: str | None = None,
                 lock: StackLock | DatabaseStackLock | None = None, passphrase: str | None = None,
                 refresh_first: bool = False, interrupts: Interrupts | None = None, then_up: bool = False,
                 provider: ProviderConfig | None = None, process: ChildProcess | None = None):
        """`provider`: the plan's provider configuration when the caller has it (StackEngine reads it once);
        else it is read here, in the parent, so that the child never imports openstacksdk. `process`: a child
        started ahead for this operation of this stack (ChildProcess.start); else one is started here."""
        self.op = EngineOp(op)
        if then_up and self.op is not EngineOp.PREVIEW:
            raise ValueError("only a preview can be followed by an up in the same child")
        self.plan, self.interrupts, self.then_up = plan, interrupts or Interrupts(), then_up
        self.allow_data_loss, self.replace, self.refresh_first = allow_data_loss, tuple(replace), refresh_first
        self.loc = loc = locate(plan, config)
        cmd = pulumi_tool()  # fail early, with how to fix it, when the toolchain is missing
        ensure_workdir(loc)
        provider = provider or provider_config(plan)
        req = {"op": self.op, "plan": plan.to_json(), "location": loc.to_json(), "allowDataLoss": allow_data_loss,
               # the credentials go over the pipe, as the passphrase goes in the environment: never to a file
               "provider": dataclasses.asdict(provider),
               "replace": [urn_of(loc, plan.get(k)) if not k.startswith("urn:") else k for k in replace],
               "message": message or self._default_message(), "refresh": refresh_first,
               "thenUp": then_up, "pulumi": {"path": cmd.command, "version": cmd.version},
               "toolchainEnv": {k: v for k, v in engine_env(loc, "").items()
                                if k not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL")},
               # a lock in the shared database: the child keeps it alive while it runs (shared/locks.py)
               "lockHeartbeat": lock.heartbeat_request() if hasattr(lock, "heartbeat_request") else None}
        if process is not None and (process.loc != loc or process.op is not self.op):
            process.close()
            process = None
        if process is None:
            process = ChildProcess.start(loc, self.op, passphrase or read_passphrase(agency=plan.service.agency))
        self.process = process
        self.proc, self.log_file, self.started = process.proc, process.log_file, process.started
        process.hand(req, getattr(lock, "fd", None), keep_stdin=then_up)
        self.waiting = False  # a kept preview has finished and the child waits for up() or close()

    def _default_message(self) -> str:
        """The update's message in the stack's history when the caller gave none."""
        return f"govcloud {self.op} {self.plan.manifest_file}".strip()

    def matches(self, *, allow_data_loss: bool, replace: Sequence[str], refresh_first: bool,
                plan: ResourcePlan) -> bool:
        """This waiting child previewed exactly the change an up with these arguments would apply."""
        return (self.waiting and self.proc.poll() is None and plan is self.plan
                and (allow_data_loss, tuple(replace), refresh_first)
                == (self.allow_data_loss, self.replace, self.refresh_first))

    def up(self, *, message: str | None = None, on_event: Callable[[ev.Event], None] | None = None) -> OperationResult:
        """Apply the previewed change: the go-ahead, then the up's events and result."""
        if not self.waiting:
            raise RuntimeError("the engine child is not waiting for a go-ahead")
        self.waiting = False
        self.op, self.then_up = EngineOp.UP, False
        self.log_file = new_log(self.loc, self.op)
        self.started = time.monotonic()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"go": True, "log": str(self.log_file),
                                              "message": message or self._default_message()}) + "\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: step() reads its end and says so
        return self.step(on_event)

    def close(self) -> None:
        """Let a waiting child go without applying anything (it exits at the end of its stdin)."""
        self.waiting = False
        self.process.close()

    def step(self, on_event: Callable[[ev.Event], None] | None = None) -> OperationResult:
        """Read the current operation's events up to its result (a kept preview: the child then waits) or to
        the child's exit, and turn them into its OperationResult."""
        op, loc, log_file, proc, interrupts = self.op, self.loc, self.log_file, self.proc, self.interrupts
        keep = self.then_up
        log = ev.EventLog()
        unsure: list[dict] = []
        result: dict = {}
        error: dict = {}
        events_file = log_file.with_suffix(".events.jsonl")
        # line-buffered: a killed govcloud loses no event it had received (the log says how far the run got)
        with open(events_file, "w", encoding="utf-8", buffering=1) as evf, interrupts:
            os.chmod(events_file, 0o600)
            interrupts.track(proc)
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    kind = msg.get("t")
                    if kind == "event":
                        evf.write(json.dumps(msg.get("e"), ensure_ascii=False) + "\n")
                        if (res := unsure_create(msg.get("e"))) is not None:
                            unsure.append(res)
                        event = log.add(msg.get("e"))
                        if on_event is not None:
                            try:
                                on_event(event)
                            except Exception:  # noqa: BLE001 - a display problem must not stop reading the engine
                                on_event = None
                    elif kind == "result":
                        result = msg
                        if keep:
                            break  # the child now waits for up() or close()
                    elif kind == "error":
                        error = msg
                if not (keep and result):
                    proc.wait()
            finally:
                interrupts.untrack(proc)
        self.waiting = keep and bool(result)
        duration = time.monotonic() - self.started
        interrupted = interrupts.interrupted
        ok = bool(result) and not error and (self.waiting or proc.returncode == 0)
        err_text = kind_ = None
        if not ok:
            kind_ = error.get("kind") or ("interrupted" if interrupted else "crash")
            if interrupted and kind_ == "engine":
                kind_ = "interrupted"
            messages = log.error_messages()
            if kind_ in ("locked", "setup"):
                err_text = error.get("message")
            elif kind_ == "interrupted":
                err_text = (f"{op} of {loc.name} was interrupted; the engine stopped after the operations in flight "
                            f"and recorded what it did. Run the same command again to finish")
            elif messages:
                err_text = "\n".join(messages)
            else:
                err_text = error.get("message") or (f"the engine child exited with code {proc.returncode}; "
                                                    f"see {log_file}")
        outputs = result.get("outputs") or {}
        return OperationResult.from_log(op, loc.name, log, ok=ok, outputs=MappingProxyType(outputs), error=err_text,
                                        error_kind=ErrorKind(kind_) if kind_ else None,
                                        timing=MappingProxyType(result.get("timing") or {}),
                                        duration=duration, log_file=str(log_file), unsure_creates=tuple(unsure))


ENGINE_SOCKET_ENV = "GOVCLOUD_ENGINE_SOCKET"  # the child's end of the socket its lock's descriptor comes over


class ChildProcess:
    """A started engine child waiting for its request (the worker imports the Automation API and the program
    module before it reads one). Started ahead, it does that while the parent checks the credentials, takes the
    lock and recovers (StackEngine does so for a deploy's preview: 0.2-0.3 s). Its stderr is the operation's log.

    The stack lock's descriptor goes to the child over a Unix socket (SCM_RIGHTS) with the request, so that the
    child holds the lock as an inherited descriptor would: for as long as it runs, even if its parent dies."""

    def __init__(self, loc: StackLocation, op: EngineOp, proc: subprocess.Popen, sock: socket.socket,
                 log_file: Path, started: float):
        self.loc, self.op, self.proc, self.sock, self.log_file, self.started = loc, op, proc, sock, log_file, started
        self.handed = False

    @classmethod
    def start(cls, loc: StackLocation, op: EngineOp | str, passphrase: str) -> "ChildProcess":
        op = EngineOp(op)
        log_file = new_log(loc, op)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
        env["PYTHONUNBUFFERED"] = "1"
        env[ENGINE_SOCKET_ENV] = str(theirs.fileno())
        started = time.monotonic()
        try:
            with open(log_file, "w", encoding="utf-8") as logf:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "govcloud.engine", "--worker"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=logf, env=env, start_new_session=True, text=True,
                    encoding="utf-8", pass_fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(loc, op, proc, ours, log_file, started)

    def hand(self, req: dict, lock_fd: int | None, *, keep_stdin: bool) -> None:
        """Give the child its request and the lock's descriptor; its stdin stays open for a go-ahead when
        `keep_stdin`. A child that died meanwhile is found by the caller reading its output."""
        self.handed = True
        try:
            if lock_fd is not None:
                socket.send_fds(self.sock, [b"L"], [lock_fd])
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({**req, "lockFd": lock_fd is not None}) + "\n")
            self.proc.stdin.flush()
            if not keep_stdin:
                self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: its log says why, and EngineChild.step reports it
        finally:
            self.sock.close()

    def close(self) -> None:
        """Let the child go (the end of its stdin: it exits having done nothing more) and wait for it. The log
        of a child that never got a request is removed when it is empty."""
        self.sock.close()
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a child that ignores the end of its stdin
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if not self.handed:
            try:
                if self.log_file.stat().st_size == 0:
                    self.log_file.unlink()
            except OSError:
                pass


def new_log(loc: StackLocation, op: str) -> Path:
    """A new log file (mode 0600) for one operation of the stack; the oldest are pruned."""
    logs = loc.state.logs
    logs.mkdir(parents=True, exist_ok=True)
    prefix = f"{loc.project}--{loc.stack}--"
    _prune_logs(logs, prefix)
    path = logs / f"{prefix}{op}--{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_TRUNC
    return path


KEEP_LOGS = 40  # engine logs kept per stack (each operation writes a .log and an .events.jsonl)


def _prune_logs(logs: Path, prefix: str) -> None:
    try:
        files = sorted(logs.glob(prefix + "*.log"), key=lambda f: f.stat().st_mtime)
    except OSError:
        return
    for old in files[:-KEEP_LOGS] if len(files) > KEEP_LOGS else []:
        old.unlink(missing_ok=True)
        old.with_suffix(".events.jsonl").unlink(missing_ok=True)
