"""`govcloud ssh`'s two modes over a verified session: one command streamed, or an interactive shell.

A command's stdout and stderr are streamed as they come (a `journalctl -f` works),
the caller's stdin is sent to it when given, and its exit status is returned (255
when the server gave none, as ssh does). The shell gets a PTY of the terminal's size
(resized on SIGWINCH) with the local terminal in raw mode, restored however the
session ends. No agent or X11 forwarding is ever requested.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO
from govcloud import settings


def stream_command(session, command: str, *, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None,
                   stderr: IO[bytes] | None = None) -> int:
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    chan = session.channel()
    try:
        chan.exec_command(command)
        if stdin is None:
            chan.shutdown_write()
        else:
            threading.Thread(target=_feed, args=(stdin, chan), daemon=True).start()
        while True:
            busy = False
            if chan.recv_ready():
                out.write(chan.recv(65536))
                out.flush()
                busy = True
            if chan.recv_stderr_ready():
                err.write(chan.recv_stderr(65536))
                err.flush()
                busy = True
            if not busy:
                # the exit status may come before the last of the output (through a bastion, under load):
                # done when the server has also ended the output (EOF) or closed the channel, and all is read
                ended = chan.eof_received or chan.closed
                if ended and chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                time.sleep(0.01)
        status = chan.recv_exit_status()
        return 255 if status < 0 else status
    finally:
        chan.close()


def _feed(stdin: IO[bytes], chan) -> None:
    try:
        while True:
            data = stdin.read1(65536) if hasattr(stdin, "read1") else stdin.read(65536)
            if not data:
                break
            chan.sendall(data)
    except OSError:
        pass
    finally:
        try:
            chan.shutdown_write()
        except OSError:
            pass


def interactive_shell(session) -> int:
    """A shell on the server in this process's terminal (stdin must be one)."""
    import select
    import signal
    import termios
    import tty

    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    cols, rows = os.get_terminal_size(fd_out if os.isatty(fd_out) else fd_in)
    chan = session.channel()
    chan.get_pty(term=settings.env("TERM") or "xterm", width=cols, height=rows)
    chan.invoke_shell()
    saved = termios.tcgetattr(fd_in)
    previous = signal.getsignal(signal.SIGWINCH)

    def resize(*_args) -> None:
        size = os.get_terminal_size(fd_in)
        chan.resize_pty(width=size.columns, height=size.lines)

    signal.signal(signal.SIGWINCH, resize)
    try:
        tty.setraw(fd_in, termios.TCSADRAIN)  # not TCSAFLUSH: what was typed ahead reaches the shell
        watch = [chan, fd_in]
        while True:
            ready, _, _ = select.select(watch, [], [])
            if chan in ready:
                data = chan.recv(65536)
                if not data:
                    break
                os.write(fd_out, data)
            if fd_in in ready:
                data = os.read(fd_in, 65536)
                if data:
                    chan.sendall(data)
                else:  # end of input: the shell sees it too
                    chan.shutdown_write()
                    watch = [chan]
        status = chan.recv_exit_status()
        return 255 if status < 0 else status
    finally:
        termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)
        chan.close()
