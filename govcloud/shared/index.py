"""The stack index: per stack its agency, site, environment, manifest, inputs digest and last operation.

`deploy DIR` reads it to find the stacks whose inputs changed, and `govcloud stacks` / status read it,
so nothing lists the backend (listing a DIY backend with hundreds of stacks takes minutes). The digest
is recorded only when the stack matches those inputs (an apply or a no-change preview succeeded): a
failed or killed run leaves the old digest, so the next `deploy DIR` runs that stack again. A stack
whose queue job stalled is marked `needs_recovery` until an operation on it succeeds.

In the shared database the index is the table `govcloud_stacks`; without one it is one JSON file per
stack in the state directory (`index/`), written atomically (parallel local runs never share a file).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

from govcloud.provenance import utc_now, who

if TYPE_CHECKING:
    from govcloud.config import ConfigRepo
    from govcloud.shared.db import SharedDatabase


@dataclass(frozen=True)
class IndexEntry:
    stack: str  # project/stack
    agency: str
    site: str
    environment: str
    manifest: str  # relative to the config repo root when inside it
    digest: str | None  # the inputs digest the stack was last brought to; None: never (or destroyed)
    last_operation: str
    result: str  # ok | failed | interrupted | refused | destroyed
    at: str = ""
    by: str = ""
    digest_parts: Mapping[str, str] = field(default_factory=dict)
    resources: int | None = None
    needs_recovery: str | None = None  # why (a stalled job), until an operation succeeds

    def to_json(self) -> dict:
        return {**asdict(self), "digest_parts": dict(self.digest_parts)}

    @classmethod
    def from_json(cls, data: Mapping) -> "IndexEntry":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def operation_entry(previous: IndexEntry | None, *, stack: str, agency: str, site: str, environment: str,
                    manifest: str, operation: str, result: str, digest: str | None,
                    digest_parts: Mapping[str, str] | None = None, resources: int | None = None) -> IndexEntry:
    """The entry after an operation: the digest moves only when the stack now matches it (`result` ok);
    a destroy clears it; a failure keeps the previous one (the next fleet run tries the stack again)."""
    user, host = who()
    keep = result != "ok" and operation != "destroy"
    old_digest = previous.digest if previous else None
    old_parts = dict(previous.digest_parts) if previous else {}
    return IndexEntry(
        stack=stack, agency=agency, site=site, environment=environment, manifest=manifest,
        digest=old_digest if keep else (None if operation == "destroy" else digest),
        digest_parts=old_parts if keep else ({} if operation == "destroy" else dict(digest_parts or {})),
        last_operation=operation, result="destroyed" if operation == "destroy" and result == "ok" else result,
        at=utc_now(), by=f"{user}@{host}", resources=resources,
        needs_recovery=previous.needs_recovery if (previous and result != "ok") else None)


def _first_entry(stack: str, manifest: str) -> IndexEntry:
    """The entry of a stack whose first operation never finished (what the stack name tells)."""
    project, _, name = stack.partition("/")
    user, host = who()
    return IndexEntry(stack=stack, agency=project.removeprefix("govcloud-"), site="?",
                      environment=name.rsplit("-", 1)[-1], manifest=manifest, digest=None, last_operation="deploy",
                      result="interrupted", at=utc_now(), by=f"{user}@{host}")


class StackIndex(Protocol):
    def get(self, stack: str) -> IndexEntry | None: ...

    def all(self) -> list[IndexEntry]: ...

    def put(self, entry: IndexEntry) -> None: ...

    def mark_recovery(self, stack: str, why: str, manifest: str = "") -> None: ...


class FileStackIndex:
    """One JSON file per stack under the state directory's index/ (the one-machine default)."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, stack: str) -> Path:
        return self.root / (stack.replace("/", "--") + ".json")

    def get(self, stack: str) -> IndexEntry | None:
        try:
            return IndexEntry.from_json(json.loads(self._path(stack).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def all(self) -> list[IndexEntry]:
        out = []
        for f in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            try:
                out.append(IndexEntry.from_json(json.loads(f.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return out

    def put(self, entry: IndexEntry) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(entry.stack)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entry.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def mark_recovery(self, stack: str, why: str, manifest: str = "") -> None:
        old = self.get(stack) or _first_entry(stack, manifest)
        self.put(replace(old, needs_recovery=why))


_COLUMNS = ("stack", "agency", "site", "environment", "manifest", "digest", "digest_parts", "last_operation",
            "result", "at", "by_user", "resources", "needs_recovery")
_SELECT = ("SELECT stack, agency, site, environment, manifest, digest, digest_parts, last_operation, result, "
           "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), by_user, resources, needs_recovery "
           "FROM govcloud_stacks")


def _entry(row) -> IndexEntry:
    return IndexEntry(stack=row[0], agency=row[1], site=row[2], environment=row[3], manifest=row[4], digest=row[5],
                      digest_parts=row[6] or {}, last_operation=row[7], result=row[8], at=row[9], by=row[10],
                      resources=row[11], needs_recovery=row[12])


class DatabaseStackIndex:
    """The table govcloud_stacks of the shared database."""

    def __init__(self, db: SharedDatabase):
        self.db = db

    def get(self, stack: str) -> IndexEntry | None:
        with self.db.session() as conn:
            row = conn.execute(_SELECT + " WHERE stack = %s", (stack,)).fetchone()
        return _entry(row) if row else None

    def all(self) -> list[IndexEntry]:
        with self.db.session() as conn:
            return [_entry(r) for r in conn.execute(_SELECT + " ORDER BY stack").fetchall()]

    def put(self, entry: IndexEntry) -> None:
        from psycopg.types.json import Jsonb

        values = (entry.stack, entry.agency, entry.site, entry.environment, entry.manifest, entry.digest,
                  Jsonb(dict(entry.digest_parts)), entry.last_operation, entry.result, entry.at or utc_now(),
                  entry.by, entry.resources, entry.needs_recovery)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
        with self.db.session() as conn:
            conn.execute(f"INSERT INTO govcloud_stacks ({', '.join(_COLUMNS)}) VALUES "
                         f"({', '.join(['%s'] * len(_COLUMNS))}) ON CONFLICT (stack) DO UPDATE SET {updates}", values)

    def mark_recovery(self, stack: str, why: str, manifest: str = "") -> None:
        if self.get(stack) is None:  # its first deploy was the one that stalled
            self.put(_first_entry(stack, manifest))
        with self.db.session() as conn:
            conn.execute("UPDATE govcloud_stacks SET needs_recovery = %s WHERE stack = %s", (why, stack))


def stack_index(config: ConfigRepo) -> StackIndex:
    """The shared database's index when one is configured, else the state directory's."""
    from govcloud.shared.db import shared_database

    db = shared_database(config)
    return DatabaseStackIndex(db) if db is not None else FileStackIndex(config.state_dir.stack_index)


def manifest_key(config: ConfigRepo, file: str | os.PathLike[str]) -> str:
    """How the index names a manifest: relative to the config repo (the same on every machine's checkout)."""
    path = Path(file).resolve()
    if config.root is not None:
        try:
            return path.relative_to(config.root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)
