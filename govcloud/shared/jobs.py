"""The job queue: Procrastinate on the shared PostgreSQL, one job per stack operation.

Why Procrastinate: it needs nothing but the PostgreSQL the shared state already uses (no broker in an
air-gapped cloud), its jobs carry a `lock` that the database itself enforces (no two jobs with one lock
are ever `doing` at once, on any machine) and a `queueing_lock` (one waiting job per stack), and
workers heartbeat, so a dead worker's job is seen as stalled. A job's lock and queueing lock are the
stack name (`job_lock`). Jobs are never retried: a failed operation needs a person or the next run.

Next to Procrastinate's own tables, `govcloud_jobs` keeps what govcloud knows of each job: the batch
(one `deploy DIR --queue`), stack, manifest, the inputs digest, who queued it, when it started and on
which worker, its outcome (the review and result, so the follower on another machine can render it),
and `stalled_at` when its worker died: such a job is marked failed for Procrastinate (its stack lock
then frees), never retried, and the stack is marked `needs_recovery` in the index, so the next
operation on it runs recovery first and the next `deploy DIR` runs it whatever its digest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

from govcloud.shared.db import SharedDatabase
from govcloud.shared.locks import stale_after

if TYPE_CHECKING:
    from procrastinate import App

QUEUE = "govcloud"
TASK = "govcloud.stack_operation"
LOCK_PREFIX = "govcloud-stack:"


def job_lock(stack: str) -> str:
    """The Procrastinate lock (and queueing lock) of a stack's jobs: one name per stack, on every machine."""
    if not stack or "/" not in stack:
        raise ValueError(f"a job lock needs a project/stack name, not {stack!r}")
    return LOCK_PREFIX + stack


def stack_of_lock(lock: str | None) -> str | None:
    return lock[len(LOCK_PREFIX):] if lock and lock.startswith(LOCK_PREFIX) else None


def make_app(db: SharedDatabase, *, sync: bool = False) -> App:
    """A Procrastinate app on the shared database (sync: for enqueueing from a command)."""
    import procrastinate

    connector = (procrastinate.SyncPsycopgConnector(conninfo=db.dsn) if sync
                 else procrastinate.PsycopgConnector(conninfo=db.dsn))
    return procrastinate.App(connector=connector)


def ensure_queue_schema(db: SharedDatabase) -> None:
    """Procrastinate's schema, applied once (under govcloud's schema lock, so workers starting together wait)."""
    from govcloud.shared.db import SCHEMA_LOCK

    db.ensure_schema()
    with db.connect(autocommit=False) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None:
                return
            from procrastinate.schema import SchemaManager

            conn.execute(SchemaManager.get_schema())


@dataclass(frozen=True)
class JobView:
    """One job as `govcloud jobs` shows it."""

    id: int
    stack: str
    manifest: str
    operation: str
    state: str  # queued | running | stalled | succeeded | failed | cancelled | aborted
    queued_by: str
    queued_at: str
    started_at: str | None
    finished_at: str | None
    worker: str | None
    batch: str
    outcome: Mapping | None

    def to_json(self) -> dict:
        return {"id": self.id, "stack": self.stack, "manifest": self.manifest, "operation": self.operation,
                "state": self.state, "queuedBy": self.queued_by, "queuedAt": self.queued_at,
                "startedAt": self.started_at, "finishedAt": self.finished_at, "worker": self.worker,
                "batch": self.batch, "result": (self.outcome or {}).get("status")}


_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
_JOBS = (f"SELECT g.job_id, g.stack, g.manifest, g.operation, p.status::text, "
         f"(p.status = 'doing' AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %s))), "
         f"g.stalled_at IS NOT NULL, g.queued_by, {_TS.format('g.queued_at')}, {_TS.format('g.started_at')}, "
         f"{_TS.format('g.finished_at')}, g.worker, g.batch, g.outcome "
         f"FROM govcloud_jobs g LEFT JOIN procrastinate_jobs p ON p.id = g.job_id "
         f"LEFT JOIN procrastinate_workers w ON w.id = p.worker_id")
_STATE = {"todo": "queued", "doing": "running"}


def _view(row) -> JobView:
    status, dead_worker, marked, outcome = row[4], row[5], row[6], row[13]
    state = "stalled" if (marked or dead_worker) else _STATE.get(status or "", status or "gone")
    if state == "succeeded" and outcome and outcome.get("status") in ("failed", "refused"):
        state = "failed"  # the operation failed; the job itself ended normally (jobs never raise: no retries)
    return JobView(id=row[0], stack=row[1], manifest=row[2], operation=row[3], state=state, queued_by=row[7],
                   queued_at=row[8], started_at=row[9], finished_at=row[10], worker=row[11], batch=row[12],
                   outcome=row[13])


def list_jobs(db: SharedDatabase, *, batch: str | None = None, states: Iterable[str] = (),
              limit: int = 200) -> list[JobView]:
    """The newest jobs first (only `batch`'s, only in `states`, when given)."""
    ensure_queue_schema(db)
    where, args = [], [stale_after()]
    if batch:
        where.append("g.batch = %s")
        args.append(batch)
    sql = _JOBS + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY g.job_id DESC LIMIT %s"
    with db.connect() as conn:
        jobs = [_view(r) for r in conn.execute(sql, (*args, limit)).fetchall()]
    wanted = set(states)
    return [j for j in jobs if not wanted or j.state in wanted]


def record_job(db: SharedDatabase, job_id: int, *, batch: str, stack: str, manifest: str, operation: str,
               digest: str, queued_by: str, worker: str | None = None) -> None:
    """The job's row: written by whoever comes first, the enqueuer or (`worker` given: started) the worker."""
    started = "now()" if worker else "NULL"
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO govcloud_jobs (job_id, batch, stack, manifest, operation, digest, queued_by, worker, "
            f"started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, {started}) ON CONFLICT (job_id) DO UPDATE SET "
            "worker = COALESCE(EXCLUDED.worker, govcloud_jobs.worker), "
            "started_at = COALESCE(EXCLUDED.started_at, govcloud_jobs.started_at)",
            (job_id, batch, stack, manifest, operation, digest, queued_by, worker))


def record_outcome(db: SharedDatabase, job_id: int, outcome: Mapping) -> None:
    from psycopg.types.json import Jsonb

    with db.connect() as conn:
        conn.execute("UPDATE govcloud_jobs SET finished_at = now(), outcome = %s WHERE job_id = %s",
                     (Jsonb(dict(outcome)), job_id))


def mark_stalled(db: SharedDatabase) -> list[JobView]:
    """Jobs whose worker stopped heartbeating: marked stalled, failed for Procrastinate (never retried), their
    stacks marked for recovery in the index. Returns the jobs marked now."""
    from procrastinate import sql

    from govcloud.shared.index import DatabaseStackIndex

    ensure_queue_schema(db)
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT p.id, p.lock FROM procrastinate_jobs p LEFT JOIN procrastinate_workers w ON w.id = p.worker_id "
            "WHERE p.status = 'doing' AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %s))",
            (stale_after(),)).fetchall()
    marked = []
    index = DatabaseStackIndex(db)
    for job_id, lock in rows:
        with db.connect() as conn:
            conn.execute(sql.queries["finish_job"].replace("%(job_id)s", "%s").replace("%(status)s", "%s")
                         .replace("%(delete_job)s", "%s"), (job_id, "failed", False))
            conn.execute("UPDATE govcloud_jobs SET stalled_at = now() WHERE job_id = %s AND stalled_at IS NULL",
                         (job_id,))
            row = conn.execute("SELECT manifest FROM govcloud_jobs WHERE job_id = %s", (job_id,)).fetchone()
        stack = stack_of_lock(lock)
        if stack:
            index.mark_recovery(stack, f"queue job {job_id} stalled: its worker stopped mid-operation",
                                row[0] if row else "")
        marked += [j for j in list_jobs(db, limit=50) if j.id == job_id]
    return marked
