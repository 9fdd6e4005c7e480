"""Run one function over several shares of a batch, the shares in forked processes.

`govcloud validate DIR` is CPU-bound Python (YAML, pydantic, the compiler, the
policy pack): one core does it all while the others idle. Forking after the
imports and the set-up (config repo, inventory, policy pack) gives each child
all of that for free; each child checks its share and sends back the plain
results (pickled, over a pipe), and this process checks the first share
meanwhile. It is how flake8's `--jobs` works, without multiprocessing's
start-up (its import, a resource tracker, a pool).

Only where forking is safe: a POSIX system and a process with no other
thread (a thread holding a lock at the fork would leave it locked in the
child forever). Otherwise, and for one share, everything runs here, in order.
"""
from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Callable, Sequence, TypeVar

from govcloud.errors import GovcloudError

S = TypeVar("S")
R = TypeVar("R")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, as `nproc` says), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def fan_out(fn: Callable[[S], R], shares: Sequence[S]) -> list[R]:
    """[fn(share) for share in shares], the first share in this process and each other in a forked child.

    An exception in a child is raised here (the first child's in share order, after this process's own);
    a child that dies without an answer (killed, out of memory) is a GovcloudError naming how it ended.
    fn's result must pickle."""
    if len(shares) < 2 or not can_fork():
        return [fn(s) for s in shares]
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            children.append(_fork(fn, share))
        mine = fn(shares[0])
    except BaseException:
        for pid, fd in children:  # this process failed: its children's answers are not wanted
            _kill(pid, fd)
        raise
    answers = [_collect(pid, fd) for pid, fd in children]  # every child reaped before any error is raised
    out = [mine]
    for ok, value in answers:
        if not ok:
            raise value
        out.append(value)
    return out


def _fork(fn: Callable[[S], R], share: S) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    # the child: never returns into the caller's code, never runs its atexit handlers or flushes its buffers
    status = 1
    try:
        os.close(read_fd)
        try:
            answer: tuple[bool, object] = (True, fn(share))
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
            answer = (False, _portable(exc))
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps((False, GovcloudError(f"a worker process's answer cannot be sent back: "
                                                      f"{type(exc).__name__}: {exc}")))
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
        status = 0
    finally:
        os._exit(status)


def _portable(exc: BaseException) -> BaseException:
    """exc if it survives pickling as itself, else a GovcloudError with its type and text."""
    try:
        copy = pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
        if type(copy) is type(exc) and str(copy) == str(exc):
            return exc
    except Exception:  # noqa: BLE001
        pass
    return GovcloudError(f"a worker process failed: {type(exc).__name__}: {exc}")


def _collect(pid: int, fd: int) -> tuple[bool, object]:
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
        try:
            return pickle.loads(data)
        except Exception as exc:  # noqa: BLE001
            return False, GovcloudError(f"a worker process's answer could not be read: {exc}")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            how = f"was killed by signal {sig} ({signal.Signals(sig).name})"
        except ValueError:
            how = f"was killed by signal {sig}"
    else:
        how = f"exited with status {os.WEXITSTATUS(status)}"
    return False, GovcloudError(f"a worker process (pid {pid}) {how} before it answered; nothing was changed")


def _kill(pid: int, fd: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.close(fd)
    os.waitpid(pid, 0)
