"""`govcloud ssh HOST -- CMD` (verify/shell.stream_command): every byte of the command's output is written, even
when the server's exit status comes before the last of it (seen through a bastion on a loaded machine)."""
from __future__ import annotations

import io
import threading
import time

from govcloud.verify.shell import stream_command


class LateOutputChannel:
    """A paramiko Channel whose exit status is ready before its output arrives; EOF comes after the output."""

    def __init__(self, chunks: list[bytes], status: int, delay: float = 0.05):
        self._out = b""
        self._lock = threading.Lock()
        self.eof_received = False
        self.closed = False
        self.status = status
        self.chunks, self.delay = chunks, delay

    def exec_command(self, command: str) -> None:
        def later():
            time.sleep(self.delay)
            for c in self.chunks:
                with self._lock:
                    self._out += c
                time.sleep(0.01)
            self.eof_received = True

        threading.Thread(target=later, daemon=True).start()

    def shutdown_write(self) -> None:
        pass

    def recv_ready(self) -> bool:
        with self._lock:
            return bool(self._out)

    def recv(self, n: int) -> bytes:
        with self._lock:
            data, self._out = self._out[:n], self._out[n:]
            return data

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return True  # from the start: the race the loop must not lose

    def recv_exit_status(self) -> int:
        return self.status

    def close(self) -> None:
        self.closed = True


class Session:
    def __init__(self, chan):
        self.chan = chan

    def channel(self):
        return self.chan


def test_output_that_comes_after_the_exit_status_is_written():
    out, err = io.BytesIO(), io.BytesIO()
    status = stream_command(Session(LateOutputChannel([b"via-", b"bastion\n"], 4)), "echo via-bastion; exit 4",
                            stdout=out, stderr=err)
    assert (status, out.getvalue(), err.getvalue()) == (4, b"via-bastion\n", b"")
