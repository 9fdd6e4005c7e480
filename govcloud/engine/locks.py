"""Two locks guard a stack.

`StackLock`: govcloud's own lock per stack (flock on `<state_dir>/locks/<project>--<stack>.lock`, held
by the command and inherited by its engine child, released by the kernel however they end); a second
run gets "stack ... is locked by govcloud deploy (pid, user@host, since)". Under it the engine's own lock
(the DIY backend's lock file) is checked: a lock left by a process that no longer runs on this host (a
SIGKILLed run) is removed; a live one is reported the same way.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path


from govcloud.engine.stack import StackLocation
from govcloud.errors import StackLockedError






@dataclass(frozen=True)
class EngineLock:
    path: str
    pid: int
    username: str
    hostname: str
    timestamp: str

    @property
    def local(self) -> bool:
        return self.hostname == socket.gethostname()

    @property
    def stale(self) -> bool:
        """Held by a process that no longer runs (only decidable for locks taken on this host)."""
        return self.local and not _pid_runs_pulumi(self.pid)

    def describe(self) -> str:
        state = "stale: its process is gone" if self.stale else ("running" if self.local else "on another host")
        return f"{self.username}@{self.hostname} (pid {self.pid}) since {self.timestamp} [{state}]"


def _pid_runs_pulumi(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"pulumi" in cmdline


def engine_locks(loc: StackLocation) -> list[EngineLock]:
    """The DIY backend's lock files of the stack (file:// backends only; [] otherwise)."""
    d = loc.engine_lock_dir()
    if d is None or not d.is_dir():
        return []
    out = []
    for f in sorted(d.glob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        out.append(EngineLock(str(f), int(data.get("pid") or 0), str(data.get("username", "?")),
                              str(data.get("hostname", "?")), str(data.get("timestamp", "?"))))
    return out


class StackLock:
    """govcloud's own lock of a stack: an flock held for a whole command (preview + apply), shared with its engine child."""

    def __init__(self, loc: StackLocation, command: str):
        self.loc = loc
        self.command = command
        self.path = loc.state.stack_lock(loc.project, loc.stack)
        self.fd: int | None = None

    def acquire(self) -> "StackLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except (OSError, ValueError):
                info = {}
            os.close(fd)
            who = (f"{info.get('command', 'another govcloud run')} (pid {info.get('pid', '?')}, "
                   f"{info.get('user', '?')}@{info.get('host', '?')}, since {info.get('since', '?')})")
            raise StackLockedError(f"stack {self.loc.name} is locked by {who}: wait for it to finish "
                                   f"(its engine may still be completing the operations in flight)") from None
        info = {"command": self.command, "pid": os.getpid(), "user": _user(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "StackLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        return "?"


def clear_stale_engine_locks(loc: StackLocation) -> list[str]:
    """Remove engine locks of dead processes on this host; StackLockedError for a live (or foreign) one."""
    notes = []
    live = []
    for lk in engine_locks(loc):
        if lk.stale:
            Path(lk.path).unlink(missing_ok=True)
            Path(lk.path + ".attrs").unlink(missing_ok=True)
            notes.append(f"removed the engine lock of a run that no longer runs: {lk.describe()}")
        else:
            live.append(lk)
    if live:
        raise StackLockedError(
            f"stack {loc.name} is locked by " + "; ".join(lk.describe() for lk in live) +
            (": wait for it to finish" if all(lk.local for lk in live) else
             ": if that run is dead, `govcloud unlock FILE --force` removes the lock"))
    return notes
