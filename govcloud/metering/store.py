"""The local usage store: one SQLite file in the config repo's state directory.

`ConfigRepo.state_dir.usage_store` (usage.sqlite). Reports read only this file, so they
work offline; `govcloud usage collect` fills it from the cloud's APIs.

Schema changes are ordered migrations recorded in `schema_version`; opening a
store applies the missing ones in one transaction each, and refuses a store
written by a newer govcloud. Usage rows are keyed by
(site, meter, resource, day): collecting a period again recomputes the same
rows and changes nothing unless the cloud reported something new (an open day
that grew, metadata that changed). Quantities are exact decimals stored as
text, never floats.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from govcloud.metering.periods import QUANTUM, UTC, Period


# Ordered migrations: version N is applied to a store at version N-1.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "usage records and the resources seen", """
        CREATE TABLE usage (
            site         TEXT NOT NULL,
            meter        TEXT NOT NULL,
            resource_id  TEXT NOT NULL,
            day          TEXT NOT NULL,              -- UTC day, YYYY-MM-DD
            project_id   TEXT NOT NULL,
            project      TEXT NOT NULL,              -- project name (maps to an agency)
            service      TEXT NOT NULL,              -- govcloud:service, or (unmanaged)
            environment  TEXT NOT NULL,
            kind         TEXT NOT NULL,              -- server | volume | bucket | floating-ip
            name         TEXT NOT NULL,
            quantity     TEXT NOT NULL,              -- exact decimal
            sampled      INTEGER NOT NULL DEFAULT 0, -- 1: a gauge sample (Swift bytes), 0: recomputable
            final        INTEGER NOT NULL DEFAULT 0, -- 1: measured after the day ended
            collected_at TEXT NOT NULL,
            PRIMARY KEY (day, site, meter, resource_id)  -- clustered by day: a period is one range scan
        ) WITHOUT ROWID;
        CREATE TABLE resources (
            site         TEXT NOT NULL,
            kind         TEXT NOT NULL,
            resource_id  TEXT NOT NULL,
            project_id   TEXT NOT NULL,
            project      TEXT NOT NULL,
            name         TEXT NOT NULL,
            service      TEXT NOT NULL,
            environment  TEXT NOT NULL,
            attrs        TEXT NOT NULL DEFAULT '{}', -- JSON: size, type, address, ...
            created_at   TEXT,
            deleted_at   TEXT,
            first_seen   TEXT NOT NULL,
            last_seen    TEXT NOT NULL,
            PRIMARY KEY (site, kind, resource_id)
        ) WITHOUT ROWID;
    """),
    (2, "collection log", """
        CREATE TABLE collections (
            id           INTEGER PRIMARY KEY,
            site         TEXT NOT NULL,
            first_day    TEXT NOT NULL,
            last_day     TEXT NOT NULL,
            started_at   TEXT NOT NULL,
            finished_at  TEXT NOT NULL,
            inserted     INTEGER NOT NULL,
            updated      INTEGER NOT NULL,
            unchanged    INTEGER NOT NULL,
            notes        TEXT NOT NULL DEFAULT '[]'  -- JSON list of warnings
        );
        CREATE INDEX resources_by_project ON resources (site, project_id);
    """),
    # usage.source: cloud (the cloud's API) | ledger (govcloud's deploy events); no SQL comment on an ALTER line,
    # SQLite splices the column text into the stored CREATE TABLE
    (3, "lifetime ledger, bucket samples, issued rate cards, the source of each usage row", """
        CREATE TABLE lifetimes (
            site            TEXT NOT NULL,
            kind            TEXT NOT NULL,              -- server | volume | floating-ip
            resource_id     TEXT NOT NULL,
            started_at      TEXT NOT NULL,              -- '' when the ledger saw only the deletion
            ended_at        TEXT,                       -- NULL: alive as far as govcloud knows
            project_id      TEXT NOT NULL,
            project         TEXT NOT NULL,
            name            TEXT NOT NULL,
            service         TEXT NOT NULL,
            environment     TEXT NOT NULL,
            attrs           TEXT NOT NULL DEFAULT '{}', -- JSON: vcpus, ramMb, diskGb, flavor, sizeGb, address, tags
            stack           TEXT NOT NULL DEFAULT '',
            urn             TEXT NOT NULL DEFAULT '',
            manifest_sha256 TEXT NOT NULL DEFAULT '',
            recorded_at     TEXT NOT NULL,
            PRIMARY KEY (site, kind, resource_id, started_at)
        ) WITHOUT ROWID;
        CREATE TABLE bucket_samples (
            site         TEXT NOT NULL,
            resource_id  TEXT NOT NULL,               -- project id / container
            at           TEXT NOT NULL,
            bytes        INTEGER NOT NULL,
            PRIMARY KEY (site, resource_id, at)
        ) WITHOUT ROWID;
        CREATE TABLE issued_rate_cards (
            site         TEXT NOT NULL,
            version      TEXT NOT NULL,
            sha256       TEXT NOT NULL,
            first_issued TEXT NOT NULL,
            PRIMARY KEY (site, version)
        ) WITHOUT ROWID;
        ALTER TABLE usage ADD COLUMN source TEXT NOT NULL DEFAULT 'cloud'
    """),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UsageRecord:
    site: str
    meter: str
    resource_id: str
    day: date
    project_id: str
    project: str
    service: str
    environment: str
    kind: str
    name: str
    quantity: Decimal
    sampled: bool = False
    final: bool = True
    source: str = "cloud"  # cloud: the cloud's API; ledger: govcloud's own deploy/destroy events


@dataclass(slots=True)
class Lifetime:
    """One interval of a resource's life from govcloud's engine events (metering.lifetimes)."""

    site: str
    kind: str
    resource_id: str
    started_at: datetime | None  # None: created before the ledger saw it
    ended_at: datetime | None  # None: alive
    project_id: str
    project: str
    name: str
    service: str
    environment: str
    attrs: dict = field(default_factory=dict)
    stack: str = ""
    urn: str = ""
    manifest_sha256: str = ""


@dataclass(slots=True)
class ResourceInfo:
    site: str
    kind: str
    resource_id: str
    project_id: str
    project: str
    name: str
    service: str
    environment: str
    attrs: dict = field(default_factory=dict)
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: "UpsertCounts") -> "UpsertCounts":
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _qty(q: Decimal) -> str:
    return str(q.quantize(QUANTUM))



def _where(period: Period | None, **columns: Iterable[str] | None) -> tuple[str, list]:
    """(` WHERE ...` or "", its arguments): the days of `period` and each column IN its values (if given)."""
    where, args = [], []
    if period is not None:
        where.append("day BETWEEN ? AND ?")
        args += [period.first.isoformat(), period.last.isoformat()]
    for col, values in columns.items():
        if values:
            values = list(values)
            where.append(f"{col} IN ({','.join('?' * len(values))})")
            args += values
    return (" WHERE " + " AND ".join(where) if where else ""), args

class UsageStore:
    """Open (creating and migrating) the store at `path`; with `in_memory`, an empty store that writes nothing."""

    def __init__(self, path: str | Path, *, in_memory: bool = False):
        self.path = Path(path)
        if not in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if in_memory else str(self.path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.migrate()

    @classmethod
    def for_config(cls, config, *, write: bool = True) -> "UsageStore":
        """The config repo's store; for reading only (`write=False`), a store never collected into is an
        empty one and nothing is created."""
        path = config.state_dir.usage_store
        return cls(path, in_memory=not write and not path.exists())

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "UsageStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema
    def version(self) -> int:
        have = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
                               ).fetchone()
        if not have:
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return row[0] or 0

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to `target`, in order; returns the versions applied."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version "
                            "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)")
            current = self.version()
            if current > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {current}, newer than this govcloud "
                                 f"understands ({SCHEMA_VERSION}): upgrade govcloud")
            applied = []
            for version, description, sql in MIGRATIONS:
                if current < version <= target:
                    for statement in filter(str.strip, sql.split(";")):
                        self.db.execute(statement)
                    self.db.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                                    (version, description, _ts(datetime.now(UTC))))
                    applied.append(version)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return applied

    # -- usage
    def upsert_usage(self, records: Iterable[UsageRecord], collected_at: datetime) -> UpsertCounts:
        """Insert new rows, update changed ones, leave the rest; one transaction.

        A gauge sample (`sampled`) never replaces a row that was `final` (measured after its
        day ended); recomputable rows are always brought up to date.
        """
        counts = UpsertCounts()
        when = _ts(collected_at)
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for r in records:
                key = (r.site, r.meter, r.resource_id, r.day.isoformat())
                values = (r.project_id, r.project, r.service, r.environment, r.kind, r.name, _qty(r.quantity),
                          int(r.sampled), int(r.final), r.source, when)
                cur.execute("INSERT OR IGNORE INTO usage (site, meter, resource_id, day, project_id, project, "
                            "service, environment, kind, name, quantity, sampled, final, source, collected_at) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", key + values)
                if cur.rowcount == 1:
                    counts.inserted += 1
                    continue
                cur.execute("UPDATE usage SET project_id=?, project=?, service=?, environment=?, kind=?, name=?, "
                            "quantity=?, sampled=?, final=?, source=?, collected_at=? "
                            "WHERE site=? AND meter=? AND resource_id=? AND day=? "
                            "AND (sampled = 0 OR final = 0) "
                            "AND (project_id, project, service, environment, kind, name, quantity, sampled, final, "
                            "source) IS NOT (?,?,?,?,?,?,?,?,?,?)", values + key + values[:-1])
                if cur.rowcount == 1:
                    counts.updated += 1
                else:
                    counts.unchanged += 1
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return counts

    def bulk_insert(self, rows: Iterable[UsageRecord], collected_at: datetime) -> None:
        """Load many rows at once (benchmarks, imports); replaces rows with the same key."""
        when = _ts(collected_at)
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO usage (site, meter, resource_id, day, project_id, project, service, "
                "environment, kind, name, quantity, sampled, final, collected_at, source) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                ((r.site, r.meter, r.resource_id, r.day.isoformat(), r.project_id, r.project, r.service,
                  r.environment, r.kind, r.name, _qty(r.quantity), int(r.sampled), int(r.final), when, r.source)
                 for r in rows))

    def usage(self, period: Period | None = None, sites: Iterable[str] | None = None,
              projects: Iterable[str] | None = None) -> Iterator[UsageRecord]:
        sql = ("SELECT site, meter, resource_id, day, project_id, project, service, environment, kind, name, "
               "quantity, sampled, final, source FROM usage")
        where, args = _where(period, site=sites, project=projects)
        for row in self.db.execute(sql + where, args):
            yield UsageRecord(row[0], row[1], row[2], date.fromisoformat(row[3]), row[4], row[5], row[6], row[7],
                              row[8], row[9], Decimal(row[10]), bool(row[11]), bool(row[12]), row[13])

    def rating_rows(self, period: Period | None = None, sites: Iterable[str] | None = None,
                    projects: Iterable[str] | None = None) -> Iterator[tuple]:
        """(project, service, environment, site, meter, day, quantity-text): the lean path reports rate from."""
        sql = "SELECT project, service, environment, site, meter, day, quantity FROM usage"
        where, args = _where(period, site=sites, project=projects)
        cur = self.db.execute(sql + where, args)
        while True:
            rows = cur.fetchmany(10_000)
            if not rows:
                return
            yield from rows

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM usage").fetchone()[0]

    # -- resources
    def resources(self, site: str, kind: str | None = None) -> dict[str, ResourceInfo]:
        sql = "SELECT * FROM resources WHERE site = ?" + (" AND kind = ?" if kind else "")
        out = {}
        for row in self.db.execute(sql, (site, kind) if kind else (site,)):
            info = ResourceInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]),
                                _dt(row[9]), _dt(row[10]), _dt(row[11]), _dt(row[12]))
            out[info.resource_id] = info
        return out

    def save_resources(self, infos: Iterable[ResourceInfo]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for i in infos:
                self.db.execute(
                    "INSERT INTO resources VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (site, kind, resource_id) DO UPDATE SET project_id=excluded.project_id, "
                    "project=excluded.project, name=excluded.name, service=excluded.service, "
                    "environment=excluded.environment, attrs=excluded.attrs, "
                    "created_at=COALESCE(excluded.created_at, created_at), deleted_at=excluded.deleted_at, "
                    "first_seen=MIN(first_seen, excluded.first_seen), last_seen=MAX(last_seen, excluded.last_seen)",
                    (i.site, i.kind, i.resource_id, i.project_id, i.project, i.name, i.service, i.environment,
                     json.dumps(i.attrs, sort_keys=True), _ts(i.created_at), _ts(i.deleted_at),
                     _ts(i.first_seen or i.last_seen), _ts(i.last_seen or i.first_seen)))

    # -- the lifetime ledger (metering.lifetimes writes it, collection reads it)
    def save_lifetime(self, lt: Lifetime, recorded_at: datetime) -> bool:
        """Insert or update one interval (keyed by its start); True when something changed."""
        row = (lt.site, lt.kind, lt.resource_id, _ts(lt.started_at) or "", _ts(lt.ended_at), lt.project_id,
               lt.project, lt.name, lt.service, lt.environment, json.dumps(lt.attrs, sort_keys=True), lt.stack,
               lt.urn, lt.manifest_sha256, _ts(recorded_at))
        with self.db:
            cur = self.db.execute(
                "INSERT INTO lifetimes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (site, kind, resource_id, started_at) DO UPDATE SET "
                "ended_at=COALESCE(excluded.ended_at, ended_at), project_id=excluded.project_id, "
                "project=excluded.project, name=excluded.name, service=excluded.service, "
                "environment=excluded.environment, attrs=excluded.attrs, stack=excluded.stack, urn=excluded.urn, "
                "manifest_sha256=excluded.manifest_sha256 "
                "WHERE (ended_at, project_id, project, name, service, environment, attrs, stack, urn, "
                "manifest_sha256) IS NOT (COALESCE(excluded.ended_at, ended_at), excluded.project_id, "
                "excluded.project, excluded.name, excluded.service, excluded.environment, excluded.attrs, "
                "excluded.stack, excluded.urn, excluded.manifest_sha256)", row)
            return cur.rowcount > 0

    def open_lifetime(self, site: str, kind: str, resource_id: str) -> Lifetime | None:
        """The interval of a resource that has not ended (the latest, if several)."""
        got = [lt for lt in self.lifetimes(site, kind, resource_id=resource_id) if lt.ended_at is None]
        return got[-1] if got else None

    def lifetimes(self, site: str | None = None, kind: str | None = None, *, resource_id: str | None = None,
                  start: datetime | None = None, end: datetime | None = None) -> list[Lifetime]:
        """Intervals of `site` (and `kind`, `resource_id`) that overlap [start, end), oldest first."""
        where, args = [], []
        for col, value in (("site", site), ("kind", kind), ("resource_id", resource_id)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        if end is not None:
            where.append("started_at < ?")
            args.append(_ts(end))
        if start is not None:
            where.append("(ended_at IS NULL OR ended_at > ?)")
            args.append(_ts(start))
        sql = "SELECT * FROM lifetimes" + (" WHERE " + " AND ".join(where) if where else "")
        out = [Lifetime(r[0], r[1], r[2], _dt(r[3] or None), _dt(r[4]), r[5], r[6], r[7], r[8], r[9], json.loads(r[10]),
                        r[11], r[12], r[13]) for r in self.db.execute(sql, args)]
        return sorted(out, key=lambda lt: (lt.resource_id, lt.started_at or datetime.min.replace(tzinfo=UTC)))

    # -- bucket samples (Swift keeps no history: the store does)
    def add_bucket_samples(self, site: str, samples: Iterable[tuple[str, datetime, int]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO bucket_samples VALUES (?,?,?,?)",
                                ((site, rid, _ts(at), int(b)) for rid, at, b in samples))

    def bucket_samples(self, site: str, resource_id: str) -> list[tuple[datetime, int]]:
        return [(_dt(at), b) for at, b in self.db.execute(
            "SELECT at, bytes FROM bucket_samples WHERE site = ? AND resource_id = ? ORDER BY at", (site, resource_id))]

    # -- rate cards documents were issued with (ratecards.changed_cards)
    def rate_card_digests(self) -> dict[tuple[str, str], str]:
        return {(s, v): d for s, v, d in self.db.execute("SELECT site, version, sha256 FROM issued_rate_cards")}

    def remember_rate_cards(self, cards: Iterable, when: datetime) -> None:
        """Record the digest of each (site, version) the first time a document is issued with it."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO issued_rate_cards VALUES (?,?,?,?)",
                                ((c.site, c.version, c.digest, _ts(when)) for c in cards))

    # -- collection log
    def log_collection(self, site: str, period: Period, started: datetime, finished: datetime,
                       counts: UpsertCounts, notes: list[str]) -> None:
        with self.db:
            self.db.execute("INSERT INTO collections (site, first_day, last_day, started_at, finished_at, inserted, "
                            "updated, unchanged, notes) VALUES (?,?,?,?,?,?,?,?,?)",
                            (site, period.first.isoformat(), period.last.isoformat(), _ts(started), _ts(finished),
                             counts.inserted, counts.updated, counts.unchanged, json.dumps(notes)))

    def collections(self, period: Period | None = None) -> list[dict]:
        sql = "SELECT site, first_day, last_day, started_at, finished_at, inserted, updated, unchanged, notes " \
              "FROM collections"
        args: list = []
        if period is not None:
            sql += " WHERE first_day <= ? AND last_day >= ?"
            args = [period.last.isoformat(), period.first.isoformat()]
        sql += " ORDER BY id"
        keys = ("site", "firstDay", "lastDay", "startedAt", "finishedAt", "inserted", "updated", "unchanged", "notes")
        return [dict(zip(keys, row[:-1] + (json.loads(row[-1]),))) for row in self.db.execute(sql, args)]
