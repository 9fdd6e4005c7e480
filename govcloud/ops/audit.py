"""The audit log: one JSON line per deploy or destroy, appended, never rewritten.

`<state_dir>/audit.log` (ConfigRepo.state_dir: `.govcloud/` of the config
repo) holds a record per operation that reached the engine:

    who       user (and the CI identity when a pipeline ran it) and host
    when      start time, UTC ISO 8601, and the duration in seconds
    what      operation (deploy | destroy), stack, manifest path + sha256,
              the config repo's git commit and whether its work tree was dirty
    changes   counts per op and the keys per op (names only, never values)
    result    ok | failed | interrupted | refused, and the engine's error line

The file is opened with O_APPEND and each record is one write() of one line
followed by fsync, under an exclusive lock of the file (flock), so concurrent
runs never interleave or lose records and a crash leaves at most a torn last
line (which `read_audit` skips; the next record starts on a line of its own).
Nothing rewrites or truncates it.

Each record is chained to the one before it (`seq`, `prev`: the hash of the
previous record's canonical JSON; ops/auditchain.py), and the head of the chain
is handed to a head store kept outside the log (ops/auditheads.py: the stack's
state), so `govcloud audit verify` names a record that was changed, removed or
reordered, and notices the log's end cut off. Values never enter it, so secrets cannot either;
the only free text, the error line, has the known secret values (the
passphrase, OS_PASSWORD) masked and is cut short.

With a shared database (govcloud.yaml `database:`, docs/scale.md) the records go to its append-only table
`govcloud_audit` instead, one chain for every machine (govcloud/shared/auditlog.py); `read_audit` and
`govcloud audit verify` read them there.

`recording(...)` wraps the apply step of a command so that exactly one record
is written however it ends (success, engine failure exiting 3, Ctrl-C).

A record's JSON is written and read through one pydantic model (`AuditLine`);
`scan_audit` reports a line that is not a record with its file:line:column.
`govcloud history` joins the records with the engine's updates (ops/history.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from pydantic import ConfigDict, ValidationError

from govcloud import __version__
from govcloud.config import ConfigRepo
from govcloud.engine.events import CHANGING_OPS, COUNT_ORDER, HIDDEN_OPS, ResourceChange
from govcloud.engine.runner import ErrorKind, OperationResult
from govcloud.errors import InputError, Problem, SourceLocation
from govcloud.load.jsonsource import json_locator
from govcloud.load.validation import StrictModel, validate_model
from govcloud.ops.auditchain import AuditHead, next_link, record_hash, tail_head
from govcloud.provenance import file_sha256, utc_now, who
from govcloud.review.model import Review
from govcloud.settings import env, secret_values

if TYPE_CHECKING:
    from govcloud.ops.auditheads import HeadStore

RECORD_VERSION = 1
RESULTS = ("ok", "failed", "interrupted", "refused")
_ERROR_LIMIT = 500
# CI identities worth recording (names, ids and URLs only: never tokens)
_CI_VARS = {
    "gitlab": ("GITLAB_CI", {"user": "GITLAB_USER_LOGIN", "pipeline": "CI_PIPELINE_URL", "job": "CI_JOB_URL",
                             "ref": "CI_COMMIT_REF_NAME", "mergeRequest": "CI_MERGE_REQUEST_IID"}),
    "github": ("GITHUB_ACTIONS", {"user": "GITHUB_ACTOR", "run": "GITHUB_RUN_ID", "repository": "GITHUB_REPOSITORY",
                                  "ref": "GITHUB_REF_NAME", "workflow": "GITHUB_WORKFLOW"}),
}


@dataclass(frozen=True)
class AuditRecord:
    operation: str  # deploy | destroy
    stack: str
    result: str  # ok | failed | interrupted | refused
    user: str = ""
    host: str = ""
    started: str = ""  # UTC ISO 8601
    duration_seconds: float = 0.0
    manifest: str = ""
    manifest_sha256: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    resources: Mapping[str, Sequence[str]] = field(default_factory=dict)  # op -> keys
    error: str = ""
    ci: Mapping[str, str] = field(default_factory=dict)
    govcloud_version: str = __version__
    plan_file: str = ""
    allow_data_loss: bool = False
    seq: int | None = None  # its place in the hash chain (set when appended; None: written before the chain)
    prev: str = ""  # the hash of the record before it

    def to_json(self) -> dict:
        """The record as its line holds it (the optional fields only when set)."""
        line = AuditLine(
            time=self.started, operation=self.operation, stack=self.stack, result=self.result,
            duration_seconds=round(self.duration_seconds, 3), user=self.user, host=self.host,
            manifest=ManifestDigest(path=self.manifest, sha256=self.manifest_sha256),
            git=GitState(commit=self.git_commit, dirty=self.git_dirty),
            changes=ChangeSummary(counts=dict(self.counts), resources={k: list(v) for k, v in self.resources.items()}),
            govcloud_version=self.govcloud_version, error=self.error, ci=dict(self.ci), plan_file=self.plan_file,
            allow_data_loss=self.allow_data_loss, seq=self.seq, prev=self.prev or None)
        unset = {name for name in _OPTIONAL if not getattr(line, name)}
        return line.model_dump(by_alias=True, exclude=unset)

    @classmethod
    def from_line(cls, line: AuditLine) -> "AuditRecord":
        return cls(operation=line.operation, stack=line.stack, result=line.result, user=line.user, host=line.host,
                   started=line.time, duration_seconds=line.duration_seconds, manifest=line.manifest.path,
                   manifest_sha256=line.manifest.sha256, git_commit=line.git.commit, git_dirty=line.git.dirty,
                   counts=line.changes.counts, resources=line.changes.resources, error=line.error, ci=line.ci,
                   govcloud_version=line.govcloud_version, plan_file=line.plan_file,
                   allow_data_loss=line.allow_data_loss, seq=line.seq, prev=line.prev or "")

    def who(self) -> str:
        """user@host, and the CI system that ran it."""
        out = self.user + (f"@{self.host}" if self.host else "")
        return out + (f" via {self.ci['system']}" if self.ci.get("system") else "")

    def git_text(self) -> str:
        """`git <commit>[+dirty]`, or "" outside a git work tree."""
        return f"git {self.git_commit[:10]}{'+dirty' if self.git_dirty else ''}" if self.git_commit else ""

    def summary(self) -> str:
        parts = [f"{self.counts[op]} {op}" for op in COUNT_ORDER if op in CHANGING_OPS and self.counts.get(op)]
        return ", ".join(parts) or "no changes"


# ---------------------------------------------------------------- the line format


class _Line(StrictModel):
    # a newer govcloud may add fields to a v1 record: a reader keeps the record and ignores them
    model_config = ConfigDict(extra="ignore")


class ManifestDigest(_Line):
    path: str = ""
    sha256: str = ""


class GitState(_Line):
    commit: str | None = None
    dirty: bool | None = None


class ChangeSummary(_Line):
    counts: dict[str, int] = {}
    resources: dict[str, list[str]] = {}  # op -> keys


class AuditLine(_Line):
    """One line of the audit log, key for key."""

    v: Literal[1] = RECORD_VERSION
    time: str
    operation: str
    stack: str
    result: Literal["ok", "failed", "interrupted", "refused"]
    duration_seconds: float = 0.0
    user: str = ""
    host: str = ""
    manifest: ManifestDigest = ManifestDigest()
    git: GitState = GitState()
    changes: ChangeSummary = ChangeSummary()
    govcloud_version: str = ""
    error: str = ""
    ci: dict[str, str] = {}
    plan_file: str = ""
    allow_data_loss: bool = False
    seq: int | None = None  # the hash chain (ops/auditchain.py); absent in records written before it
    prev: str | None = None


_OPTIONAL = ("error", "ci", "plan_file", "allow_data_loss", "seq", "prev")  # written only when set


# ---------------------------------------------------------------- facts


def ci_identity(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    for system, (flag, names) in _CI_VARS.items():
        if env(flag, environ):
            out = {"system": system}
            out.update({k: value for k, v in names.items() if (value := env(v, environ))})
            return out
    return {}


def git_state(where: str | os.PathLike[str] | None, timeout: float = 5.0) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty) of the git work tree holding `where`; (None, None) outside git or without git.

    Read-only: `git rev-parse HEAD` and `git --no-optional-locks status --porcelain` (which never
    writes the index).
    """
    if where is None:
        return None, None
    d = Path(where)
    d = d if d.is_dir() else d.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    try:
        head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=d, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if head.returncode != 0:
            inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=d, env=env,
                                    capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            if inside.returncode != 0:
                return None, None
            commit = None  # a repository without commits yet
        else:
            commit = head.stdout.strip() or None
        st = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain"], cwd=d, env=env,
                            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Mask the secret values govcloud knows of (passphrase, OpenStack password) wherever they appear."""
    for value in secret_values(environ):
        if len(value) >= 4:
            text = text.replace(value, "[secret]")
    return text


def changes_summary(changes: Review | OperationResult | Iterable[ResourceChange]
                    ) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(counts per op, keys per op) of the changing resources of a review or an engine operation."""
    if isinstance(changes, Review):
        items = [(r.op, r.key, r.type) for r in changes.resources]
    else:
        records = changes.changes if isinstance(changes, OperationResult) else changes
        items = [(c.op, c.key, c.type) for c in records]
    counts: dict[str, int] = {}
    keys: dict[str, list[str]] = {}
    for op, key, rtype in items:
        if op in HIDDEN_OPS or str(rtype).startswith("pulumi:"):
            continue
        counts[op] = counts.get(op, 0) + 1
        keys.setdefault(op, []).append(key)
    return counts, keys


# ---------------------------------------------------------------- writing


def audit_path(config: ConfigRepo) -> Path:
    return config.state_dir.audit_log


def audit_where(config: ConfigRepo) -> str:
    """Where the config repo's audit log is, for messages: the shared database's table, or the file."""
    from govcloud.shared.db import shared_database

    db = shared_database(config)
    if db is not None:
        from govcloud.shared import auditlog

        return auditlog.describe(db)
    return str(audit_path(config))


def append_audit(config: ConfigRepo, record: AuditRecord) -> tuple[AuditRecord, AuditHead]:
    """Append one record chained to the last: (the record as written, the chain's new head).

    Under an exclusive lock of the log (flock: concurrent writers take turns) the chain's head is read from the
    file's end, the record gets the next seq and the head's hash as prev, and its line is appended: O_APPEND,
    one write, fsync. A torn last line (a crash mid-write) is ended first. Never rewrites the file.

    With a shared database the record goes to its append-only table instead, chained the same way under the
    database's lock (govcloud/shared/auditlog.py).
    """
    import fcntl

    from govcloud.shared.db import shared_database

    db = shared_database(config)
    if db is not None:
        from govcloud.shared import auditlog

        chained: list[AuditRecord] = []

        def link(last: AuditHead | None) -> dict:
            chained.append(replace(record, **next_link(last)))
            return chained[-1].to_json()

        _stored, head = auditlog.append(db, record.stack, link)
        return chained[-1], head
    path = audit_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last, ends_with_newline = tail_head(fd)
        written = replace(record, **next_link(last))
        obj = written.to_json()
        line = ("" if ends_with_newline else "\n") + json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        data = (line + "\n").encode("utf-8")
        count = os.write(fd, data)
        if count != len(data):  # a regular file takes the whole line; a full disk does not
            raise OSError(f"audit log {path}: wrote {count} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    return written, AuditHead(written.seq, record_hash(obj))


def make_record(config: ConfigRepo, *, operation: str, stack: str, result: str,
                manifest: str | os.PathLike[str] = "",
                changes: Review | OperationResult | Iterable[ResourceChange] | None = None,
                started: str | None = None, duration_seconds: float = 0.0, error: str = "", plan_file: str = "",
                allow_data_loss: bool = False, manifest_sha256: str | None = None) -> AuditRecord:
    """A record with the who/when/git facts filled in."""
    if result not in RESULTS:
        raise ValueError(f"audit result must be one of {RESULTS}, not {result!r}")
    user, host = who()
    msha = manifest_sha256
    if msha is None and manifest:
        try:
            msha = file_sha256(manifest)
        except OSError:
            msha = ""
    root = config.root
    commit, dirty = git_state(root if root is not None else (Path(manifest).resolve() if manifest else None))
    counts, keys = changes_summary(changes) if changes is not None else ({}, {})
    # NUL removed too: the shared database's jsonb cannot hold it
    err = redact(" ".join(str(error).replace("\x00", "").split()))[:_ERROR_LIMIT] if error else ""
    return AuditRecord(operation=operation, stack=stack, result=result, user=user, host=host,
                       started=started or utc_now(), duration_seconds=duration_seconds, manifest=str(manifest),
                       manifest_sha256=msha or "", git_commit=commit, git_dirty=dirty, counts=counts, resources=keys,
                       error=err, ci=ci_identity(), plan_file=str(plan_file or ""), allow_data_loss=allow_data_loss)


def record_operation(config: ConfigRepo, *, heads: HeadStore | None = None,
                     note: Callable[[str], None] | None = None, **kwargs) -> AuditRecord:
    """make_record + append_audit; returns the record written.

    `heads`: the store that keeps the chain's head outside the log (the stack's state). The record is written
    first; a head the store could not keep is told to `note` (the operation itself is done and recorded)."""
    rec, head = append_audit(config, make_record(config, **kwargs))
    if heads is not None:
        problem = heads.write(rec.stack, head)
        if problem and note is not None:
            note(f"audit: {problem}")
    return rec


class Recording:
    """What the block inside `recording()` reports: the engine's result, or a refusal."""

    def __init__(self) -> None:
        self.changes: OperationResult | None = None
        self.ok: bool | None = None
        self.error = ""
        self.result_name: str | None = None

    def result(self, result: OperationResult) -> None:
        """The engine's OperationResult (its changes and ok / error are recorded)."""
        self.changes = result
        self.ok = result.ok
        self.error = result.error or ""
        if result.error_kind == ErrorKind.INTERRUPTED:
            self.result_name = "interrupted"

    def refused(self, reason: str) -> None:
        self.result_name = "refused"
        self.error = reason


@contextmanager
def recording(config: ConfigRepo, operation: str, manifest: str | os.PathLike[str], stack: str, *,
              plan_file: str = "", allow_data_loss: bool = False, heads: HeadStore | None = None,
              note: Callable[[str], None] | None = None) -> Iterator[Recording]:
    """Write exactly one audit record for the block, however it ends.

        with audit.recording(config, "deploy", file, engine.name) as rec:
            result = engine.run(EngineOp.UP, ...)
            rec.result(result)
            ensure_ok(result)               # raises EngineFailed: recorded as failed

    Result: `ok` when the block ends normally and the engine result (if given) is ok; `failed` on a failed
    result, an exception or a non-zero SystemExit; `interrupted` on Ctrl-C or an interrupted engine run.
    `heads` and `note` as for record_operation.
    """
    rec = Recording()
    started, t0 = utc_now(), time.monotonic()
    outcome = "ok"
    error = ""
    try:
        yield rec
    except KeyboardInterrupt:
        outcome, error = "interrupted", "interrupted (Ctrl-C)"
        raise
    except SystemExit as exc:
        if exc.code not in (0, None):
            outcome = "failed"
        raise
    except BaseException as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if rec.result_name:
            outcome = rec.result_name
        elif rec.ok is False:
            outcome = "failed"
        record_operation(config, operation=operation, stack=stack, result=outcome, manifest=manifest,
                         changes=rec.changes, started=started, duration_seconds=time.monotonic() - t0,
                         error=rec.error or error, plan_file=plan_file, allow_data_loss=allow_data_loss,
                         heads=heads, note=note)


# ---------------------------------------------------------------- reading


def scan_audit(path: str | os.PathLike[str]) -> tuple[list[AuditRecord], list[Problem]]:
    """(records, the lines that are not records, located: a torn last line after a crash, or damage)."""
    records: list[AuditRecord] = []
    bad: list[Problem] = []
    file = str(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return [], []
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                records.append(AuditRecord.from_line(_parse_line(raw, file, n)))
            except InputError as exc:
                bad.extend(exc.problems)
    return records, bad


def _parse_line(raw: bytes, file: str, n: int) -> AuditLine:
    """One line of the log as a record; InputError located at its line (and the field's column)."""
    def refuse(message: str, column: int = 1) -> InputError:
        return InputError([Problem(f"not an audit record: {message}", location=SourceLocation(file, n, column),
                                   code="audit")])

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"invalid JSON: {exc.msg}", exc.colno) from None
    if not isinstance(data, dict):
        raise refuse("expected a JSON object")
    try:
        return validate_model(AuditLine, data, json_locator(text, file, line=n))
    except InputError as exc:
        raise InputError([Problem(p.message, p.path, p.location, code="audit", hint=p.hint)
                          for p in exc.problems]) from None


def read_audit(config: ConfigRepo, stack: str | None = None, limit: int | None = None) -> list[AuditRecord]:
    """The audit records, oldest first (only `stack`'s when given; the last `limit` when given); lines that are
    not records are skipped (scan_audit says which).

    `stack` matches the full name (project/stack) or the stack alone.
    """
    from govcloud.shared.db import shared_database

    db = shared_database(config)
    if db is not None:
        from govcloud.shared import auditlog

        records = []
        for row in auditlog.read(db, stack):
            try:
                records.append(AuditRecord.from_line(AuditLine.model_validate(row)))
            except ValidationError:  # a row added by hand: `audit verify` names it, as a bad line of the file
                continue
        return records[-limit:] if limit else records
    records, _bad = scan_audit(audit_path(config))
    if stack:
        records = [r for r in records if r.stack == stack or r.stack.rsplit("/", 1)[-1] == stack]
    if limit:
        records = records[-limit:]
    return records
