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
followed by fsync, so concurrent runs never interleave or lose records and a
crash leaves at most a torn last line (which `read_audit` skips). Nothing
rewrites or truncates it. Values never enter it, so secrets cannot either;
the only free text, the error line, has the known secret values (the
passphrase, OS_PASSWORD) masked and is cut short.

`recording(...)` wraps the apply step of a command so that exactly one record
is written however it ends (success, engine failure exiting 3, Ctrl-C).
"""
from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from govcloud import __version__
from govcloud.settings import env, secret_values

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

    def to_json(self) -> dict:
        out = {
            "v": RECORD_VERSION, "time": self.started, "operation": self.operation, "stack": self.stack,
            "result": self.result, "durationSeconds": round(self.duration_seconds, 3),
            "user": self.user, "host": self.host,
            "manifest": {"path": self.manifest, "sha256": self.manifest_sha256},
            "git": {"commit": self.git_commit, "dirty": self.git_dirty},
            "changes": {"counts": dict(self.counts), "resources": {k: list(v) for k, v in self.resources.items()}},
            "govcloudVersion": self.govcloud_version,
        }
        if self.error:
            out["error"] = self.error
        if self.ci:
            out["ci"] = dict(self.ci)
        if self.plan_file:
            out["planFile"] = self.plan_file
        if self.allow_data_loss:
            out["allowDataLoss"] = True
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "AuditRecord":
        m = d.get("manifest") if isinstance(d.get("manifest"), Mapping) else {}
        g = d.get("git") if isinstance(d.get("git"), Mapping) else {}
        ch = d.get("changes") if isinstance(d.get("changes"), Mapping) else {}
        counts = ch.get("counts") if isinstance(ch.get("counts"), Mapping) else {}
        res = ch.get("resources") if isinstance(ch.get("resources"), Mapping) else {}
        return cls(
            operation=str(d.get("operation", "")), stack=str(d.get("stack", "")), result=str(d.get("result", "")),
            user=str(d.get("user", "")), host=str(d.get("host", "")), started=str(d.get("time", "")),
            duration_seconds=float(d.get("durationSeconds") or 0), manifest=str(m.get("path", "")),
            manifest_sha256=str(m.get("sha256", "")), git_commit=g.get("commit"), git_dirty=g.get("dirty"),
            counts={str(k): int(v) for k, v in counts.items() if isinstance(v, int)},
            resources={str(k): [str(x) for x in v] for k, v in res.items() if isinstance(v, list)},
            error=str(d.get("error", "")), ci=dict(d.get("ci") or {}),
            govcloud_version=str(d.get("govcloudVersion", "")), plan_file=str(d.get("planFile", "")),
            allow_data_loss=bool(d.get("allowDataLoss")))

    def who(self) -> str:
        """user@host, and the CI system that ran it."""
        out = self.user + (f"@{self.host}" if self.host else "")
        return out + (f" via {self.ci['system']}" if self.ci.get("system") else "")

    def git_text(self) -> str:
        """`git <commit>[+dirty]`, or "" outside a git work tree."""
        return f"git {self.git_commit[:10]}{'+dirty' if self.git_dirty else ''}" if self.git_commit else ""

    def summary(self) -> str:
        order = ("create", "update", "replace", "delete", "import", "discard")
        parts = [f"{self.counts[op]} {op}" for op in order if self.counts.get(op)]
        return ", ".join(parts) or "no changes"


# ---------------------------------------------------------------- facts


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def who() -> tuple[str, str]:
    """(user, host) of this process (SUDO_USER is kept alongside when someone ran govcloud through sudo)."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        user = str(os.getuid()) if hasattr(os, "getuid") else "?"
    sudo = env("SUDO_USER")
    if sudo and sudo != user:
        user = f"{user} (sudo by {sudo})"
    return user, socket.gethostname()


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


def changes_summary(changes: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(counts per op, keys per op) of the changing resources of a Review, OperationResult or ResourceChanges."""
    if hasattr(changes, "resources") and hasattr(changes, "verdict"):
        items = [(r.op, r.key, r.type) for r in changes.resources]
    else:
        recs = changes.changes if hasattr(changes, "changes") and not isinstance(changes, (list, tuple)) \
            else changes
        recs = recs() if callable(recs) else recs
        items = [(c.op, c.key, c.type) for c in (recs or ())]
    counts: dict[str, int] = {}
    keys: dict[str, list[str]] = {}
    for op, key, rtype in items:
        if op in ("same", "read", "refresh") or str(rtype).startswith("pulumi:"):
            continue
        counts[op] = counts.get(op, 0) + 1
        keys.setdefault(op, []).append(key)
    return counts, keys


# ---------------------------------------------------------------- writing


def audit_path(config: Any) -> Path:
    return config.state_dir.audit_log


def append_audit(config: Any, record: AuditRecord) -> Path:
    """Append one record: O_APPEND, one write of one line, fsync. Never rewrites the file."""
    path = audit_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n")
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
    try:
        written = os.write(fd, data)
        if written != len(data):  # a regular file takes the whole line; a full disk does not
            raise OSError(f"audit log {path}: wrote {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def make_record(config: Any, *, operation: str, stack: str, result: str, manifest: str | os.PathLike[str] = "",
                changes: Any = None, started: str | None = None, duration_seconds: float = 0.0,
                error: str = "", plan_file: str = "", allow_data_loss: bool = False,
                manifest_sha256: str | None = None) -> AuditRecord:
    """A record with the who/when/git facts filled in."""
    if result not in RESULTS:
        raise ValueError(f"audit result must be one of {RESULTS}, not {result!r}")
    user, host = who()
    msha = manifest_sha256
    if msha is None and manifest:
        try:
            import hashlib

            msha = hashlib.sha256(Path(manifest).read_bytes()).hexdigest()
        except OSError:
            msha = ""
    root = getattr(config, "root", None)
    commit, dirty = git_state(root if root is not None else (Path(manifest).resolve() if manifest else None))
    counts, keys = changes_summary(changes) if changes is not None else ({}, {})
    err = redact(" ".join(str(error).split()))[:_ERROR_LIMIT] if error else ""
    return AuditRecord(operation=operation, stack=stack, result=result, user=user, host=host,
                       started=started or utc_now(), duration_seconds=duration_seconds, manifest=str(manifest),
                       manifest_sha256=msha or "", git_commit=commit, git_dirty=dirty, counts=counts, resources=keys,
                       error=err, ci=ci_identity(), plan_file=str(plan_file or ""), allow_data_loss=allow_data_loss)


def record_operation(config: Any, **kwargs: Any) -> AuditRecord:
    """make_record + append_audit; returns the record written."""
    rec = make_record(config, **kwargs)
    append_audit(config, rec)
    return rec


class _Recording:
    def __init__(self) -> None:
        self.changes: Any = None
        self.ok: bool | None = None
        self.error = ""
        self.result_name: str | None = None

    def result(self, result: Any) -> None:
        """The engine's OperationResult (its changes and ok / error are recorded)."""
        self.changes = result
        self.ok = bool(getattr(result, "ok", True))
        self.error = getattr(result, "error", "") or ""
        kind = getattr(result, "error_kind", None)
        if kind == "interrupted":
            self.result_name = "interrupted"

    def refused(self, reason: str) -> None:
        self.result_name = "refused"
        self.error = reason


@contextmanager
def recording(config: Any, operation: str, manifest: str | os.PathLike[str], stack: str, *,
              plan_file: str = "", allow_data_loss: bool = False) -> Iterator[_Recording]:
    """Write exactly one audit record for the block, however it ends.

        with audit.recording(ws.config, "deploy", file, loc.name) as rec:
            result = engine.run_operation("up", ...)
            rec.result(result)
            _engine_failed(result)          # may sys.exit(3): recorded as failed

    Result: `ok` when the block ends normally and the engine result (if given) is ok; `failed` on a failed
    result, an exception or a non-zero SystemExit; `interrupted` on Ctrl-C or an interrupted engine run.
    """
    rec = _Recording()
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
                         error=rec.error or error, plan_file=plan_file, allow_data_loss=allow_data_loss)


# ---------------------------------------------------------------- reading


def scan_audit(path: str | os.PathLike[str]) -> tuple[list[AuditRecord], list[int]]:
    """(records, line numbers that are not records: a torn last line after a crash, or damage)."""
    records: list[AuditRecord] = []
    bad: list[int] = []
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return [], []
    with f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                d = json.loads(raw.decode("utf-8"))
                if not isinstance(d, dict) or "operation" not in d:
                    raise ValueError("not a record")
                records.append(AuditRecord.from_json(d))
            except (ValueError, UnicodeDecodeError, TypeError):
                bad.append(n)
    return records, bad


def read_audit(config: Any, stack: str | None = None, limit: int | None = None) -> list[AuditRecord]:
    """The audit records, oldest first (only `stack`'s when given; the last `limit` when given).

    `stack` matches the full name (project/stack) or the stack alone.
    """
    records, _bad = scan_audit(audit_path(config))
    if stack:
        records = [r for r in records if r.stack == stack or r.stack.rsplit("/", 1)[-1] == stack]
    if limit:
        records = records[-limit:]
    return records


def format_history(records: Sequence[AuditRecord]) -> list[str]:
    """One line per record, newest first, for `govcloud history`."""
    lines = []
    for r in reversed(records):
        who_ = r.who() + (f" ({r.ci['user']})" if r.ci.get("system") and r.ci.get("user") else "")
        git = f" {r.git_text()}" if r.git_commit else ""
        line = (f"  {r.started:<20} {r.operation:<8} {r.result:<11} {r.duration_seconds:7.1f}s  {who_}  "
                f"{r.summary()}{git}")
        if r.error:
            line += f"\n{'':<24}error: {r.error}"
        lines.append(line)
    return lines


# ---------------------------------------------------------------- history: the engine's updates with the audit


_ENGINE_KIND = {"deploy": "update", "destroy": "destroy"}


def _parse_time(text: str) -> _dt.datetime | None:
    try:
        t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `govcloud history`: an engine update (Pulumi's history), the audit record of the govcloud
    run that made it, or both. A run refused before the engine (data loss, a stale plan) has no update; an
    update made outside govcloud (a hand-run `pulumi up`) has no audit record, and says so."""

    time: str
    kind: str  # the engine's: update | destroy | refresh | preview ...; the audit's operation without one
    result: str
    changes: Mapping[str, int]
    message: str = ""
    audit: AuditRecord | None = None
    engine: bool = True  # the engine's history has it

    def to_json(self) -> dict:
        return {"time": self.time, "kind": self.kind, "result": self.result, "resourceChanges": dict(self.changes),
                "message": self.message, "engine": self.engine,
                "audit": self.audit.to_json() if self.audit is not None else None}


def merge_history(updates: Sequence[Mapping[str, Any]], records: Sequence[AuditRecord],
                  slack_seconds: float = 2.0) -> list[HistoryEntry]:
    """Pulumi's update history joined with the audit records, newest first.

    An update belongs to the record of the same kind whose run it started within (the record's start time
    to start + duration, give or take `slack_seconds`: the two clocks round differently).
    """
    spans = []
    for r in records:
        start = _parse_time(r.started)
        if start is not None:
            spans.append((r, start, start + _dt.timedelta(seconds=r.duration_seconds)))
    used: set[int] = set()
    out: list[tuple[_dt.datetime, HistoryEntry]] = []
    slack = _dt.timedelta(seconds=slack_seconds)
    for u in updates:
        t = _parse_time(str(u.get("startTime", "")))
        kind = str(u.get("kind", ""))
        match = None
        if t is not None:
            for i, (r, start, end) in enumerate(spans):
                if i not in used and _ENGINE_KIND.get(r.operation) == kind and start - slack <= t <= end + slack:
                    match = i
                    break
        if match is not None:
            used.add(match)
        changes = {str(k): int(v) for k, v in (u.get("resourceChanges") or {}).items() if isinstance(v, int)}
        entry = HistoryEntry(time=str(u.get("startTime", "")), kind=kind, result=str(u.get("result", "")),
                             changes=changes, message=str(u.get("message", "")),
                             audit=spans[match][0] if match is not None else None)
        out.append((t or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc), entry))
    for i, (r, start, _end) in enumerate(spans):
        if i not in used:
            out.append((start, HistoryEntry(time=r.started, kind=r.operation, result=r.result,
                                            changes=dict(r.counts), audit=r, engine=False)))
    out.sort(key=lambda te: te[0], reverse=True)
    return [e for _t, e in out]


def format_merged_history(entries: Sequence[HistoryEntry]) -> list[str]:
    """`govcloud history` lines: when, what, result, changes, who and from which commit."""
    lines = []
    for e in entries:
        r = e.audit
        # govcloud's counts (cloud resources) when it ran it; the engine's also count the stack and provider
        counts = r.counts if r is not None and r.counts else e.changes
        changes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "same") or "no changes"
        if r is None:
            who_ = "(no govcloud audit record: run outside govcloud)"
        else:
            who_ = r.who() + (f" {r.git_text()}" if r.git_commit else "")
            if r.manifest_sha256:
                who_ += f" manifest {r.manifest_sha256[:12]}"
            if not e.engine:
                who_ += "  (stopped before the engine)"
        line = f"  {e.time[:19]:<20} {e.kind:<8} {e.result:<11} {changes:<30} {who_}"
        if r is not None and r.error and e.result not in ("succeeded", "ok"):
            line += f"\n{'':<24}{r.error.splitlines()[0]}"
        lines.append(line)
    return lines
