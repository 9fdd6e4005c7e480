"""The shared setup's audit log: one row per record in `govcloud_audit`, which a trigger keeps append-only
(UPDATE, DELETE and TRUNCATE are refused; docs/scale.md shows the grants that also keep its owner out).

ops/audit.py writes and reads through these when a shared database is configured: the records are the
same JSON objects the file holds (ops.audit.AuditLine), hash chain included (ops/auditchain.py: `seq`, `prev`),
so every machine's deploys are in one log and `govcloud audit verify` checks it as it checks the file. One
chain runs through the whole table: a record is chained to the table's last under a transaction-level advisory
lock, so writers on every machine take turns and the row ids follow the chain. A record's hash is taken of the
JSON as the table gives it back (jsonb keeps no key order; the canonical JSON sorts the keys anyway).

The head of the chain is kept where an agency's CI cannot rewrite it together with the log twice over: the
table itself, which no govcloud role may change or cut short (the trigger; `guard_problem` checks it is in
place), and, as with the file, the stack's state in its backend (ops/auditheads.py).
"""
from __future__ import annotations

from typing import Callable, Mapping

from govcloud.ops.auditchain import AuditHead, is_chained, record_hash
from govcloud.shared.db import SharedDatabase

AUDIT_LOCK = 0x676F7661  # pg_advisory_xact_lock key of appending to the chain ("gova")
GUARD_TRIGGERS = ("govcloud_audit_no_change", "govcloud_audit_no_truncate")


def describe(db: SharedDatabase) -> str:
    """The log's name in messages and reports."""
    return f"{db.describe()} govcloud_audit"


def append(db: SharedDatabase, stack: str, link: Callable[[AuditHead | None], Mapping]) -> tuple[dict, AuditHead]:
    """Insert one record chained to the table's last: `link(the chain's head, None before the first)` gives the
    record's JSON with its seq and prev. Returns (the record as stored, the chain's new head)."""
    from psycopg.types.json import Jsonb

    with db.session() as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            row = conn.execute("SELECT record FROM govcloud_audit WHERE record ? 'seq' ORDER BY id DESC LIMIT 1"
                               ).fetchone()
            last = AuditHead(row[0]["seq"], record_hash(row[0])) if row and is_chained(row[0]) else None
            stored = conn.execute("INSERT INTO govcloud_audit (stack, record) VALUES (%s, %s) RETURNING record",
                                  (stack, Jsonb(dict(link(last))))).fetchone()[0]
    return stored, AuditHead(stored["seq"], record_hash(stored))


def rows(db: SharedDatabase) -> list[tuple[int, object]]:
    """(row id, record) of every row, oldest first (what verify walks)."""
    with db.session() as conn:
        return conn.execute("SELECT id, record FROM govcloud_audit ORDER BY id").fetchall()


def read(db: SharedDatabase, stack: str | None = None) -> list[dict]:
    """The records, oldest first (`stack`: the full name or the stack alone)."""
    sql = "SELECT record FROM govcloud_audit"
    args: tuple = ()
    if stack:
        sql += " WHERE stack = %s OR stack LIKE %s"
        args = (stack, f"%/{stack}")
    with db.session() as conn:
        return [r[0] for r in conn.execute(sql + " ORDER BY id", args).fetchall()]


def guard_problem(db: SharedDatabase) -> str | None:
    """Why the table is not append-only (a trigger dropped or disabled), or None when its guard is in place."""
    with db.session() as conn:
        found = dict(conn.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'govcloud_audit'::regclass "
                                  "AND tgname = ANY(%s)", (list(GUARD_TRIGGERS),)).fetchall())
    missing = [t for t in GUARD_TRIGGERS if t not in found]
    disabled = [t for t, state in found.items() if state == "D"]
    if not missing and not disabled:
        return None
    what = "; ".join(part for part in (f"missing: {', '.join(missing)}" if missing else "",
                                       f"disabled: {', '.join(disabled)}" if disabled else "") if part)
    return (f"the triggers that keep govcloud_audit append-only are not in place ({what}): rows may have been "
            f"changed or removed while they were off")
