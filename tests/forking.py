"""Run a test in a forked child of the test process, for code that forks only when single-threaded.

govcloud.fanout forks only in a process with no other thread. Earlier tests leave idle threads in the
pytest process (asyncio's default executor of the Pulumi Automation API runs, for one), so a test of the
forking path runs in a child: after a fork only the forking thread exists. A failure in the child comes
back as its traceback.
"""
from __future__ import annotations

import functools
import os
import traceback


def in_child(test):
    @functools.wraps(test)  # the same signature, so that pytest passes the same fixtures
    def run(*args, **kwargs):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(read_fd)
                try:
                    test(*args, **kwargs)
                    message, status = b"", 0
                except BaseException:  # noqa: BLE001 - reported by the parent
                    message = traceback.format_exc().encode()
                with os.fdopen(write_fd, "wb") as out:
                    out.write(message)
            finally:
                os._exit(status)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, \
            f"the test failed in its child process:\n{message}" if message else f"the child ended with {status}"
    return run
