"""The stack lock that holds across machines: one row per locked stack in the shared database.

govcloud's local StackLock is an flock on a file: it cannot see a run on another machine. With a shared
database the lock is a row in `govcloud_stack_locks` (stack, a random token, the command, pid,
user, host, since) taken in one transaction, plus a heartbeat: the holder updates the row every
HEARTBEAT seconds, and so does its engine child while it runs (the request carries the token), so the
lock lives exactly as long as a process of the run does. A second run gets "stack ... is locked by
<command> (pid, user@host, since ..., last heartbeat N s ago)". A row whose heartbeat is older than
`stale_after()` belongs to a run that is gone (killed, its machine lost): the next run takes it over
in the same transaction and says whose it was; the engine's own locks of that dead run are then
removed before recovery (engine/seam.py). Only the holder's token releases the row.
"""
from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from govcloud.errors import StackLockedError
from govcloud.provenance import user_name
from govcloud.settings import env
from govcloud.shared.db import SharedDatabase

HEARTBEAT = 5.0  # seconds between heartbeats
DEFAULT_STALE = 60.0


def stale_after() -> float:
    """Seconds without a heartbeat after which a lock (or a queue worker) counts as dead."""
    raw = env("GOVCLOUD_LOCK_STALE_SECONDS")
    try:
        return max(3 * HEARTBEAT, float(raw)) if raw else DEFAULT_STALE
    except ValueError:
        return DEFAULT_STALE


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a stack lock, as its row says."""

    stack: str
    command: str
    pid: int
    user: str
    host: str
    since: str
    heartbeat_age: float

    def describe(self) -> str:
        return (f"{self.command} (pid {self.pid}, {self.user}@{self.host}, since {self.since}, last heartbeat "
                f"{self.heartbeat_age:.0f} s ago)")


_SELECT = ("SELECT stack, command, pid, username, host, to_char(since AT TIME ZONE 'UTC', "
           "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), extract(epoch FROM now() - heartbeat)::float8 "
           "FROM govcloud_stack_locks")


def _holder(row) -> LockHolder:
    return LockHolder(row[0], row[1], int(row[2]), row[3], row[4], row[5], float(row[6]))


def held_locks(db: SharedDatabase) -> list[LockHolder]:
    """Every stack lock in the database (for `govcloud jobs` and status)."""
    with db.session() as conn:
        return [_holder(r) for r in conn.execute(_SELECT + " ORDER BY stack").fetchall()]


def beat(db: SharedDatabase, stack: str, token: str, conn=None) -> bool:
    """One heartbeat; False when the row is no longer ours (taken over after we were thought dead)."""
    sql = "UPDATE govcloud_stack_locks SET heartbeat = now() WHERE stack = %s AND token = %s"
    if conn is not None:
        return conn.execute(sql, (stack, token)).rowcount == 1
    with db.connect() as c:
        return c.execute(sql, (stack, token)).rowcount == 1


class Heartbeat:
    """A daemon thread beating one lock until stopped (the holder's, or its engine child's)."""

    def __init__(self, db: SharedDatabase, stack: str, token: str, interval: float = HEARTBEAT):
        self.db, self.stack, self.token, self.interval = db, stack, token, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {stack}", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = None
        while not self._stop.wait(self.interval):
            try:
                conn = conn or self.db.connect()
                if not beat(self.db, self.stack, self.token, conn):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - the database away for a moment: try again next time
                conn = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


class DatabaseStackLock:
    """govcloud's lock of one stack in the shared database, for a whole command (see the module docstring).

    `wait`: seconds to wait for a live holder to finish (queue workers wait; a person is told at once).
    After acquire(), `taken_over` is the dead holder whose lock was cleared (None when the stack was free).
    """

    fd = None  # nothing for the engine child to inherit: it gets heartbeat_request() instead

    def __init__(self, db: SharedDatabase, stack: str, command: str, *, wait: float = 0.0):
        self.db = db
        self.stack = stack
        self.command = command
        self.wait = wait
        self.token = secrets.token_hex(16)
        self.taken_over: LockHolder | None = None
        self._heartbeat: Heartbeat | None = None

    def acquire(self) -> "DatabaseStackLock":
        stale = stale_after()
        deadline = time.monotonic() + self.wait
        while True:
            holder = self._try(stale)
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise StackLockedError(f"stack {self.stack} is locked by {holder.describe()}: wait for it to "
                                       f"finish (a holder silent for {stale:.0f} s counts as dead and its lock "
                                       f"is cleared by the next run)")
            time.sleep(min(2.0, max(0.2, deadline - time.monotonic())))
        self._heartbeat = Heartbeat(self.db, self.stack, self.token).start()
        return self

    def _try(self, stale: float) -> LockHolder | None:
        """Take the lock in one transaction; the live holder when it is held."""
        mine = (self.stack, self.token, self.command, os.getpid(), user_name(), socket.gethostname())
        self.db.ensure_schema()
        with self.db.connect(autocommit=False) as conn:
            with conn.transaction():
                row = conn.execute(_SELECT + " WHERE stack = %s FOR UPDATE", (self.stack,)).fetchone()
                if row is None:
                    done = conn.execute(
                        "INSERT INTO govcloud_stack_locks (stack, token, command, pid, username, host) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (stack) DO NOTHING", mine).rowcount
                    return None if done == 1 else LockHolder(self.stack, "another govcloud run", 0, "?", "?",
                                                             "now", 0.0)
                holder = _holder(row)
                if holder.heartbeat_age <= stale:
                    return holder
                conn.execute("UPDATE govcloud_stack_locks SET token = %s, command = %s, pid = %s, username = %s, "
                             "host = %s, since = now(), heartbeat = now() WHERE stack = %s", (*mine[1:], self.stack))
                self.taken_over = holder
                return None

    def heartbeat_request(self) -> dict:
        """What the engine child needs to keep this lock alive while it runs (no secret: the token only
        names the row; the password comes from PGPASSFILE / PGPASSWORD as for every connection)."""
        return {"url": self.db.url, "stack": self.stack, "token": self.token, "interval": HEARTBEAT}

    @property
    def lost(self) -> bool:
        return bool(self._heartbeat and self._heartbeat.lost)

    def release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
            try:
                with self.db.connect() as conn:
                    conn.execute("DELETE FROM govcloud_stack_locks WHERE stack = %s AND token = %s",
                                 (self.stack, self.token))
            except Exception:  # noqa: BLE001 - the database is away: the row goes stale and is taken over
                pass

    def __enter__(self) -> "DatabaseStackLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def child_heartbeat(request: dict | None) -> Heartbeat | None:
    """In the engine child: keep the parent's lock alive while the operation runs (None without one)."""
    if not request:
        return None
    return Heartbeat(SharedDatabase(request["url"]), request["stack"], request["token"],
                     float(request.get("interval") or HEARTBEAT)).start()
