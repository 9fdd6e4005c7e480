"""Many stacks through the shared queue: enqueue a fleet plan's stacks, follow them, and the worker.

`enqueue` puts one job per stack (its lock and queueing lock: the stack; shared/jobs.py) and `follow`
waits for their outcomes, which the workers store with the jobs, rendered reviews included. A worker
(`govcloud worker`) runs one job at a time: ops.fleet.run_stack in its own process, whose engine
operation runs in an engine child as always. The worker resolves the job's manifest in its own config
repo (its own checkout: the job names the manifest relative to the repo) and refuses it when the inputs
there are not the ones queued (fleet.InputsMoved). A job whose worker died is marked stalled by the
next worker's watcher or by a follower (never retried); its stack needs recovery, which the next
deploy of it runs first (ops.workflow.recover_stack, under a lock that waits for the dead run's lock to
go stale).
"""
from __future__ import annotations

import secrets
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from govcloud.ops.fleet import FleetPlan, FleetResult, StackOutcome, StackTask, run_stack
from govcloud.provenance import who
from govcloud.shared import jobs
from govcloud.shared.db import SharedDatabase, require_database
from govcloud.shared.locks import stale_after

STALL_CHECK = 10.0  # seconds between looks for stalled jobs


def _queued_by() -> str:
    from govcloud.ops.audit import ci_identity

    user, host = who()
    ci = ci_identity()
    return f"{user}@{host}" + (f" via {ci['system']}" if ci.get("system") else "")


def enqueue(config, plan: FleetPlan) -> tuple[str, list[int], list[StackOutcome]]:
    """(batch, job ids, outcomes of stacks that could not be queued) for the plan's stacks."""
    from procrastinate import exceptions

    db = require_database(config, "--queue")
    jobs.ensure_queue_schema(db)
    jobs.mark_stalled(db)  # a dead worker's job must not hold its stack's queue lock
    batch, by = secrets.token_hex(6), _queued_by()
    ids, refused = [], []
    app = jobs.make_app(db, sync=True)
    with app.open():
        for t in plan.tasks:
            lock = jobs.job_lock(t.stack)
            try:
                job_id = app.configure_task(jobs.TASK, queue=jobs.QUEUE, lock=lock, queueing_lock=lock).defer(
                    task=t.to_json(), batch=batch, queued_by=by)
            except exceptions.AlreadyEnqueued:
                refused.append(StackOutcome(t.stack, t.manifest, t.operation, "refused",
                                            "a job of this stack is already waiting in the queue "
                                            "(`govcloud jobs`)", 1))
                continue
            jobs.record_job(db, job_id, batch=batch, stack=t.stack, manifest=t.manifest, operation=t.operation,
                            digest=t.digest, queued_by=by)
            ids.append(job_id)
    return batch, ids, refused


def follow(db: SharedDatabase, batch: str, job_ids: list[int], *,
           on_done: Callable[[StackOutcome], None] | None = None, poll: float = 1.0) -> list[StackOutcome]:
    """Wait until every job of the batch has an outcome (or stalled); the outcomes in job order."""
    pending, got = set(job_ids), {}
    last_stall_check = 0.0
    while pending:
        if time.monotonic() - last_stall_check > STALL_CHECK:
            jobs.mark_stalled(db)
            last_stall_check = time.monotonic()
        for j in jobs.list_jobs(db, batch=batch, limit=max(200, len(job_ids))):
            if j.id not in pending:
                continue
            if j.outcome:
                o = StackOutcome.from_json(j.outcome)
            elif j.state in ("stalled", "failed", "cancelled", "aborted", "gone"):
                o = StackOutcome(j.stack, j.manifest, j.operation, "failed",
                                 f"queue job {j.id} {j.state}" + (f" on worker {j.worker}" if j.worker else "") +
                                 (": its worker stopped mid-operation; the stack is marked for recovery, which "
                                  "its next deploy runs first" if j.state == "stalled" else ""), 3)
            else:
                continue
            pending.discard(j.id)
            got[j.id] = o
            if on_done is not None:
                on_done(o)
        if pending:
            time.sleep(poll)
    return [got[i] for i in job_ids]


def run_queued(config, plan: FleetPlan, *, wait: bool = True,
               on_done: Callable[[StackOutcome, int, int], None] | None = None) -> FleetResult:
    batch, ids, refused = enqueue(config, plan)
    outcomes: list[StackOutcome] = [*plan.invalid, *refused]
    if wait and ids:
        n = len(ids)
        seen = []

        def done(o: StackOutcome) -> None:
            seen.append(o)
            if on_done is not None:
                on_done(o, len(seen), n)

        outcomes += follow(require_database(config, "--queue"), batch, ids, on_done=done)
    return FleetResult(plan, tuple(outcomes), tuple(ids))


# ---------------------------------------------------------------- the worker


def manifest_here(config, manifest: str) -> str:
    """A job's manifest in this worker's config repo."""
    path = Path(manifest)
    if not path.is_absolute() and config.root is not None:
        path = config.root / path
    return str(path)


def run_worker(config, *, name: str | None = None, wait: bool = True,
               log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> None:
    """Work the queue: one stack operation at a time, until stopped (or, without `wait`, until it is empty)."""
    import socket

    db = require_database(config, "govcloud worker")
    jobs.ensure_queue_schema(db)
    worker = name or f"{socket.gethostname()}:{__import__('os').getpid()}"
    app = jobs.make_app(db)

    @app.task(name=jobs.TASK, queue=jobs.QUEUE, pass_context=True)
    def stack_operation(context, task: dict, batch: str, queued_by: str) -> None:
        t = StackTask.from_json(task)
        job_id = context.job.id
        jobs.record_job(db, job_id, batch=batch, stack=t.stack, manifest=t.manifest, operation=t.operation,
                        digest=t.digest, queued_by=queued_by, worker=worker)
        log(f"job {job_id}: {t.operation} {t.stack} ({t.manifest}), queued by {queued_by}")
        # a dead run's stack lock goes stale after stale_after(): wait that long rather than fail the job
        outcome = run_stack(replace(t, file=manifest_here(config, t.manifest)), lock_wait=stale_after() + 15)
        jobs.record_outcome(db, job_id, outcome.to_json())
        log(f"job {job_id}: {t.stack}: {outcome.status} in {outcome.duration:.1f} s"
            + (f": {outcome.error.splitlines()[0]}" if outcome.error else ""))

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(STALL_CHECK):
            try:
                for j in jobs.mark_stalled(db):
                    log(f"job {j.id} of {j.stack} stalled (its worker {j.worker or '?'} stopped): marked for "
                        f"recovery, not retried")
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: the next look tries again
                log(f"stalled-job check failed: {type(exc).__name__}: {exc}")

    for j in jobs.mark_stalled(db):
        log(f"job {j.id} of {j.stack} stalled (its worker {j.worker or '?'} stopped): marked for recovery, "
            f"not retried")
    watcher = threading.Thread(target=watch, name="stalled jobs", daemon=True)
    watcher.start()
    log(f"worker {worker}: waiting for jobs on {db.describe()}" if wait else f"worker {worker}: working the queue")
    try:
        app.run_worker(queues=[jobs.QUEUE], wait=wait, concurrency=1, name=worker, delete_jobs="never",
                       update_heartbeat_interval=5, stalled_worker_timeout=stale_after(), listen_notify=True,
                       fetch_job_polling_interval=2.0)
    finally:
        stop.set()
