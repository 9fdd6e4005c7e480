"""The shared database: which one (govcloud.yaml), how to connect, and govcloud's own tables in it.

The database is `database:` in govcloud.yaml, else the `backend:` when that is a postgres:// URL (the
Pulumi state, govcloud's tables and the job queue then live in one database). The URL never holds a
password (settings.py refuses one): libpq reads it from PGPASSFILE or PGPASSWORD, the same way for
psycopg here and for the Pulumi CLI's postgres backend.

The schema is created on first use, when a table is missing, under a transaction-level advisory lock (two
workers starting at once do not race). The audit table refuses UPDATE, DELETE and TRUNCATE by trigger;
docs/scale.md shows the grants that make it append-only also for the table's owner.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from govcloud.errors import SetupError
from govcloud.settings import AGENCY_PLACEHOLDER

if TYPE_CHECKING:
    from govcloud.config import ConfigRepo

POSTGRES_SCHEMES = ("postgres", "postgresql")
SCHEMA_LOCK = 0x676F7663  # pg_advisory_xact_lock key of the schema creation ("govc")

SCHEMA = """
CREATE TABLE IF NOT EXISTS govcloud_stack_locks (
    stack     text PRIMARY KEY,
    token     text NOT NULL,
    command   text NOT NULL,
    pid       integer NOT NULL,
    username  text NOT NULL,
    host      text NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS govcloud_stacks (
    stack          text PRIMARY KEY,
    agency         text NOT NULL,
    site           text NOT NULL,
    environment    text NOT NULL,
    manifest       text NOT NULL,
    digest         text,
    digest_parts   jsonb NOT NULL DEFAULT '{}',
    last_operation text NOT NULL,
    result         text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    by_user        text NOT NULL,
    resources      integer,
    needs_recovery text
);
CREATE TABLE IF NOT EXISTS govcloud_audit (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    stack  text NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS govcloud_audit_stack_idx ON govcloud_audit (stack, id);
CREATE OR REPLACE FUNCTION govcloud_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'govcloud_audit is append-only: % refused', TG_OP;
END;
$$;
CREATE OR REPLACE TRIGGER govcloud_audit_no_change BEFORE UPDATE OR DELETE ON govcloud_audit
    FOR EACH ROW EXECUTE FUNCTION govcloud_audit_append_only();
CREATE OR REPLACE TRIGGER govcloud_audit_no_truncate BEFORE TRUNCATE ON govcloud_audit
    FOR EACH STATEMENT EXECUTE FUNCTION govcloud_audit_append_only();
CREATE TABLE IF NOT EXISTS govcloud_jobs (
    job_id      bigint PRIMARY KEY,
    batch       text NOT NULL,
    stack       text NOT NULL,
    manifest    text NOT NULL,
    operation   text NOT NULL,
    digest      text NOT NULL,
    queued_by   text NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    worker      text,
    outcome     jsonb,
    stalled_at  timestamptz
);
CREATE INDEX IF NOT EXISTS govcloud_jobs_batch_idx ON govcloud_jobs (batch);
"""

TABLES = ("govcloud_stack_locks", "govcloud_stacks", "govcloud_audit", "govcloud_jobs")

# The Pulumi postgres backend's table, as its schema.sql writes it (pkg/backend/diy/postgres, v3.274.1): created
# here first because the CLI's own CREATE TABLE IF NOT EXISTS races when two workers first use a fresh database
# ("duplicate key value violates unique constraint pg_type_typname_nsp_index"; PostgreSQL's IF NOT EXISTS is
# not safe against a concurrent create)
STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    key TEXT PRIMARY KEY,
    data JSON NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {table}_key_prefix_idx ON {table} (key text_pattern_ops);
"""
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_READY: set[str] = set()  # databases whose schema this process has ensured
_STATE_READY: set[str] = set()  # postgres backends whose state table this process has ensured


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in POSTGRES_SCHEMES


@dataclass(frozen=True)
class SharedDatabase:
    """One shared PostgreSQL, by its URL (as configured: it never holds a password)."""

    url: str

    @property
    def dsn(self) -> str:
        """The URL as libpq takes it: without the Pulumi backend's own `table` parameter."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "table"]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    @property
    def state_table(self) -> str:
        """The table of the Pulumi postgres backend (when this database is also the backend)."""
        return dict(parse_qsl(urlsplit(self.url).query)).get("table") or "pulumi_state"

    def describe(self) -> str:
        p = urlsplit(self.url)
        return f"{p.username or '?'}@{p.hostname or 'localhost'}:{p.port or 5432}{p.path}"

    def connect(self, *, autocommit: bool = True):
        """A new psycopg connection; SetupError (how to fix) when the database cannot be reached."""
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=autocommit, connect_timeout=10,
                                   application_name="govcloud")
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SetupError(f"cannot connect to the shared database {self.describe()}: {first} (the password "
                             f"comes from PGPASSFILE or PGPASSWORD; dev: eval \"$(scripts/postgres env)\")") from None

    def ensure_schema(self) -> None:
        """govcloud's tables, created once (idempotent; concurrent callers wait on one advisory lock)."""
        if self.url in _READY:
            return
        with self.connect(autocommit=False) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                # only when a table is missing: no DDL where an admin role owns the tables (docs/scale.md), and
                # an audit trigger dropped or disabled stays so for `audit verify` to report, not re-armed
                missing = conn.execute("SELECT count(*) FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL",
                                       (list(TABLES),)).fetchone()[0]
                if missing:
                    conn.execute(SCHEMA)
        _READY.add(self.url)

    def ensure_state_table(self) -> None:
        """The Pulumi backend's state table of this URL, created once under the schema's advisory lock (before
        any engine uses the backend: two first users at once would race in the CLI). Nothing is done when it
        exists (a role with read access only may use the backend)."""
        if self.url in _STATE_READY:
            return
        table = self.state_table
        if not _TABLE_NAME.fullmatch(table):
            raise SetupError(f"the postgres backend's table {table!r} is not a plain lower-case SQL name "
                             f"(letters, digits, _): set ?table= in `backend:` of govcloud.yaml to one")
        with self.connect(autocommit=False) as conn:
            with conn.transaction():
                if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                    conn.execute(STATE_SCHEMA.format(table=table))
        _STATE_READY.add(self.url)

    def session(self):
        """A connection with the schema ensured (a context manager: closed at the end)."""
        self.ensure_schema()
        return self.connect()


def database_url(config: ConfigRepo) -> str | None:
    """The shared database of a config repo: `database:`, else a postgres:// `backend:`, else None.

    A postgres backend per agency (`{agency}` in the URL) is one database only when the placeholder is in its
    `table` parameter (which the shared database's URL drops); elsewhere `database:` must name the one."""
    settings = config.settings
    if settings.database:
        return settings.database
    if is_postgres_url(settings.backend):
        parts = urlsplit(settings.backend)
        if AGENCY_PLACEHOLDER in urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")):
            raise SetupError(f"backend {settings.backend} holds {AGENCY_PLACEHOLDER} outside its `table` parameter: "
                             f"set `database:` in govcloud.yaml to the one shared database (docs/scale.md)")
        return settings.backend
    return None


def shared_database(config: ConfigRepo) -> SharedDatabase | None:
    """The config repo's shared database, or None (the one-machine setup). Connects to nothing."""
    url = database_url(config)
    return SharedDatabase(url) if url else None


def require_database(config: ConfigRepo, what: str) -> SharedDatabase:
    db = shared_database(config)
    if db is None:
        raise SetupError(f"{what} needs the shared database: set `database:` (or a postgres:// `backend:`) in "
                         f"govcloud.yaml (docs/scale.md)")
    return db
