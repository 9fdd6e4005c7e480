"""The shared setup's audit log: one row per record in `govcloud_audit`, which a trigger keeps append-only
(UPDATE, DELETE and TRUNCATE are refused; docs/scale.md shows the grants that also keep its owner out).

ops/audit.py writes and reads through these when a shared database is configured: the records are the
same JSON lines the file holds (ops.audit.AuditLine), so every machine's deploys are in one log.
"""
from __future__ import annotations

from typing import Mapping

from govcloud.shared.db import SharedDatabase


def append(db: SharedDatabase, stack: str, record: Mapping) -> str:
    """Insert one record; returns where it went (for messages)."""
    from psycopg.types.json import Jsonb

    with db.session() as conn:
        conn.execute("INSERT INTO govcloud_audit (stack, record) VALUES (%s, %s)", (stack, Jsonb(dict(record))))
    return f"{db.describe()} govcloud_audit"


def read(db: SharedDatabase, stack: str | None = None) -> list[dict]:
    """The records, oldest first (`stack`: the full name or the stack alone)."""
    sql = "SELECT record FROM govcloud_audit"
    args: tuple = ()
    if stack:
        sql += " WHERE stack = %s OR stack LIKE %s"
        args = (stack, f"%/{stack}")
    with db.session() as conn:
        return [r[0] for r in conn.execute(sql + " ORDER BY id", args).fetchall()]
