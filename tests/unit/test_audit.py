"""govcloud.ops.audit: an append-only JSON-lines log of every deploy and destroy; govcloud.ops.history joins it
with the engine's update history."""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govcloud.ops import audit, history
from govcloud.engine.runner import ErrorKind, OperationResult
from govcloud.config import ConfigRepo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
STACK = "govcloud-moe/citizen-portal-review-dev"


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    for var in ("GITLAB_CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (root / "manifests").mkdir()
    (root / "manifests" / "portal.yaml").write_text("apiVersion: govcloud/v1\n")
    return ConfigRepo(root)


def deploy_result() -> OperationResult:
    """What engine.run_operation returns for a deploy: here from the recorded `up` of the citizen portal."""
    fx = json.loads((FIXTURES / "deploy-up.json").read_text())
    return OperationResult.from_events("up", fx["events"], stack=STACK)


def lines(config) -> list[dict]:
    return [json.loads(l) for l in audit.audit_path(config).read_text().splitlines()]


def test_record_fields(config):
    manifest = config.root / "manifests" / "portal.yaml"
    rec = audit.record_operation(config, operation="deploy", stack=STACK, result="ok", manifest=manifest,
                                 changes=deploy_result(), duration_seconds=12.3456)
    (d,) = lines(config)
    assert d["v"] == 1 and d["operation"] == "deploy" and d["stack"] == STACK and d["result"] == "ok"
    assert d["durationSeconds"] == 12.346
    assert d["time"].endswith("Z") and "T" in d["time"]
    assert d["user"] and d["host"]
    assert d["manifest"]["path"] == str(manifest)
    import hashlib

    assert d["manifest"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert d["changes"]["counts"] == {"create": 23}
    assert "volume-web-1-data" in d["changes"]["resources"]["create"]
    assert d["git"] == {"commit": None, "dirty": None}  # not in a git repository
    assert rec.summary() == "23 create"
    assert audit.audit_path(config) == Path(os.environ["GOVCLOUD_STATE_DIR"]) / "audit.log"


def test_append_only_never_rewritten(config):
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok")
    path = audit.audit_path(config)
    first = path.read_bytes()
    audit.record_operation(config, operation="destroy", stack=STACK, result="failed", error="boom")
    second = path.read_bytes()
    assert second.startswith(first) and second.count(b"\n") == 2
    assert oct(path.stat().st_mode & 0o777) == "0o640"


def test_one_write_per_record_with_o_append(config, monkeypatch):
    calls = []
    real_open, real_write, real_fsync = os.open, os.write, os.fsync

    def spy_open(path, flags, mode=0o777):
        calls.append(("open", flags))
        return real_open(path, flags, mode)

    def spy_write(fd, data):
        calls.append(("write", data))
        return real_write(fd, data)

    def spy_fsync(fd):
        calls.append(("fsync", fd))
        return real_fsync(fd)

    config.settings  # govcloud.yaml (read through os.open too) is read once, before the spy: only the audit write
    monkeypatch.setattr(audit.os, "open", spy_open)
    monkeypatch.setattr(audit.os, "write", spy_write)
    monkeypatch.setattr(audit.os, "fsync", spy_fsync)
    audit.append_audit(config, audit.AuditRecord(operation="deploy", stack=STACK, result="ok"))
    kinds = [c[0] for c in calls]
    assert kinds == ["open", "write", "fsync"]
    flags = calls[0][1]
    assert flags & os.O_APPEND and flags & os.O_CREAT and not flags & os.O_TRUNC
    data = calls[1][1]
    assert data.endswith(b"\n") and data.count(b"\n") == 1


def _append_many(state: str, n: int, tag: int) -> None:
    os.environ["GOVCLOUD_STATE_DIR"] = state
    cfg = ConfigRepo(None)
    for i in range(n):
        audit.append_audit(cfg, audit.AuditRecord(operation="deploy", stack=f"p/s{tag}", result="ok",
                                                  error="x" * 3000, manifest=f"m{i}"))


def test_concurrent_writers_never_interleave(config):
    state = os.environ["GOVCLOUD_STATE_DIR"]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(state, 50, t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    records, bad = audit.scan_audit(audit.audit_path(config))
    assert bad == [] and len(records) == 200
    assert sorted({r.stack for r in records}) == ["p/s0", "p/s1", "p/s2", "p/s3"]


def test_torn_last_line_is_skipped(config):
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok")
    with open(audit.audit_path(config), "ab") as f:
        f.write(b'{"v":1,"operation":"depl')  # a crash in the middle of a write
    records, bad = audit.scan_audit(audit.audit_path(config))
    assert len(records) == 1
    path = audit.audit_path(config)
    # the torn line's unterminated string opens at its 20th character: `{"v":1,"operation":"depl`
    assert [p.format() for p in bad] == [f"{path}:2:20: error: not an audit record: invalid JSON: Unterminated "
                                         f"string starting at"]
    assert len(audit.read_audit(config)) == 1


def test_read_audit_by_stack(config):
    for stack, result in ((STACK, "ok"), ("govcloud-moh/portal-prod", "ok"), (STACK, "failed")):
        audit.record_operation(config, operation="deploy", stack=stack, result=result)
    assert [r.result for r in audit.read_audit(config, STACK)] == ["ok", "failed"]
    assert [r.result for r in audit.read_audit(config, "citizen-portal-review-dev")] == ["ok", "failed"]
    assert len(audit.read_audit(config)) == 3
    assert [r.result for r in audit.read_audit(config, STACK, limit=1)] == ["failed"]
    assert audit.read_audit(config, "govcloud-moe/nothing-dev") == []


def test_read_audit_without_a_log(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "empty"))
    assert audit.read_audit(ConfigRepo(None)) == []


def test_git_commit_and_dirty_flag(config):
    def git(*args):
        subprocess.run(["git", *args], cwd=config.root, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example"})

    git("init", "-q")
    assert audit.git_state(config.root) == (None, True)  # no commit yet, untracked files
    git("add", "-A")
    git("commit", "-q", "-m", "config")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.root, capture_output=True, text=True).stdout.strip()
    index = (config.root / ".git" / "index").read_bytes()
    assert audit.git_state(config.root) == (head, False)
    assert audit.git_state(config.root / "manifests" / "portal.yaml") == (head, False)
    assert (config.root / ".git" / "index").read_bytes() == index  # read-only: the index is not rewritten
    (config.root / "manifests" / "portal.yaml").write_text("apiVersion: govcloud/v1  # edited\n")
    assert audit.git_state(config.root) == (head, True)
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok",
                           manifest=config.root / "manifests" / "portal.yaml")
    assert lines(config)[-1]["git"] == {"commit": head, "dirty": True}


def test_secrets_never_enter_the_log(config, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_PASSPHRASE", "correct-horse-battery")
    monkeypatch.setenv("OS_PASSWORD", "s3cr3t-os-pass")
    err = ("error: auth failed for user govcloud with password s3cr3t-os-pass; passphrase "
           "correct-horse-battery rejected")
    audit.record_operation(config, operation="deploy", stack=STACK, result="failed", error=err,
                           changes=deploy_result())
    text = audit.audit_path(config).read_text()
    assert "s3cr3t-os-pass" not in text and "correct-horse-battery" not in text
    assert "password [secret]; passphrase [secret] rejected" in text
    # the recorded deploy's events carry the provider password (a fake one) and secret outputs: none of it
    # reaches the log, which holds resource names and counts only
    assert "fixture-secret-not-real" not in text and "plaintext" not in text and "ciphertext" not in text
    assert "gc.small" not in text  # no values at all


def test_error_is_one_short_line(config):
    audit.record_operation(config, operation="deploy", stack=STACK, result="failed", error="a\nb\n" + "x" * 2000)
    d = lines(config)[0]
    assert d["error"].startswith("a b x") and len(d["error"]) == 500


def test_ci_identity(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    env = {"GITLAB_CI": "true", "GITLAB_USER_LOGIN": "fatemeh", "CI_PIPELINE_URL": "https://git/p/1",
           "CI_JOB_TOKEN": "not-recorded", "CI_COMMIT_REF_NAME": "main"}
    assert audit.ci_identity(env) == {"system": "gitlab", "user": "fatemeh", "pipeline": "https://git/p/1",
                                      "ref": "main"}
    assert audit.ci_identity({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "ali", "GITHUB_TOKEN": "no"}) == \
        {"system": "github", "user": "ali"}
    assert audit.ci_identity({}) == {}


# ---------------------------------------------------------------- recording(): one record however it ends


def test_recording_ok(config):
    with audit.recording(config, "deploy", "manifests/portal.yaml", STACK) as rec:
        rec.result(deploy_result())
    (d,) = lines(config)
    assert d["result"] == "ok" and d["changes"]["counts"] == {"create": 23} and d["durationSeconds"] >= 0


def test_recording_engine_failure_exit_3(config):
    res = dataclasses.replace(deploy_result(), ok=False, error="server-web-1: No valid host was found",
                              error_kind=ErrorKind.ENGINE)
    with pytest.raises(SystemExit):
        with audit.recording(config, "deploy", "manifests/portal.yaml", STACK) as rec:
            rec.result(res)
            sys.exit(3)
    (d,) = lines(config)
    assert d["result"] == "failed" and d["error"] == "server-web-1: No valid host was found"


def test_recording_exception_and_interrupt(config):
    with pytest.raises(RuntimeError):
        with audit.recording(config, "destroy", "m.yaml", STACK, allow_data_loss=True):
            raise RuntimeError("lost the lock")
    with pytest.raises(KeyboardInterrupt):
        with audit.recording(config, "deploy", "m.yaml", STACK):
            raise KeyboardInterrupt
    a, b = lines(config)
    assert (a["result"], a["error"], a["allowDataLoss"]) == ("failed", "RuntimeError: lost the lock", True)
    assert (b["result"], b["error"]) == ("interrupted", "interrupted (Ctrl-C)")


def test_recording_refused_and_interrupted_engine(config):
    with audit.recording(config, "deploy", "m.yaml", STACK, plan_file="change.plan") as rec:
        rec.refused("the saved plan moved")
    res = dataclasses.replace(deploy_result(), ok=False, error="deploy was interrupted",
                              error_kind=ErrorKind.INTERRUPTED)
    with audit.recording(config, "deploy", "m.yaml", STACK) as rec:
        rec.result(res)
    a, b = lines(config)
    assert (a["result"], a["planFile"], a["error"]) == ("refused", "change.plan", "the saved plan moved")
    assert b["result"] == "interrupted"


def test_bad_result_name_is_a_bug(config):
    with pytest.raises(ValueError):
        audit.make_record(config, operation="deploy", stack=STACK, result="great")


def test_format_history(config, monkeypatch):
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("GITLAB_USER_LOGIN", "fatemeh")
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok", changes=deploy_result(),
                           duration_seconds=19.04)
    audit.record_operation(config, operation="destroy", stack=STACK, result="failed", error="boom")
    out = history.format_history(audit.read_audit(config, STACK))
    assert len(out) == 2
    assert " destroy  failed " in out[0] and "error: boom" in out[0]
    assert " deploy   ok " in out[1] and "19.0s" in out[1] and "via gitlab (fatemeh)" in out[1]
    assert out[1].rstrip().endswith("23 create")


# ---------------------------------------------------------------- history: engine updates joined with the audit


def _rec(op, started, duration, result="ok", **kw):
    return audit.AuditRecord(operation=op, stack="govcloud-moe/portal-dev", result=result, user="ops", host="h1",
                             started=started, duration_seconds=duration, **kw)


def _update(kind, start, result="succeeded", **changes):
    return {"kind": kind, "startTime": start, "result": result, "resourceChanges": changes,
            "message": f"govcloud {kind}"}


def test_merge_history_joins_updates_to_the_run_that_made_them():
    deploy = _rec("deploy", "2026-11-28T10:00:00Z", 20.0, git_commit="0123456789abcdef", manifest_sha256="ab" * 32,
                  counts={"create": 21})  # the engine's 23 creates include the stack and the provider
    refused = _rec("deploy", "2026-11-28T10:05:00Z", 3.0, result="refused", error="refusing to deploy: data")
    destroy = _rec("destroy", "2026-11-28T10:10:00Z", 15.0)
    updates = [  # Pulumi lists newest first; its update starts after govcloud's preview, inside the run
        _update("destroy", "2026-11-28T10:10:04.000Z", delete=23),
        _update("update", "2026-11-28T10:08:00.000Z", update=1),  # a hand-run `pulumi up`
        _update("update", "2026-11-28T10:00:03.000Z", create=23),  # as Pulumi counts
    ]
    merged = history.merge_history(updates, [deploy, refused, destroy])
    assert [(e.kind, e.result, e.engine, e.audit) for e in merged] == [
        ("destroy", "succeeded", True, destroy),
        ("update", "succeeded", True, None),
        ("deploy", "refused", False, refused),
        ("update", "succeeded", True, deploy),
    ]
    lines = history.format_merged_history(merged)
    assert "ops@h1" in lines[0] and "delete 23" in lines[0]
    assert "no govcloud audit record" in lines[1]
    assert "stopped before the engine" in lines[2] and "refusing to deploy: data" in lines[2]
    assert "git 0123456789" in lines[3] and f"manifest {'ab' * 6}" in lines[3] and "create 21" in lines[3]
    doc = merged[3].to_json()
    assert doc["audit"]["git"]["commit"] == "0123456789abcdef" and doc["resourceChanges"] == {"create": 23}


def test_merge_history_needs_the_same_kind_and_the_run_s_time():
    deploy = _rec("deploy", "2026-11-28T10:00:00Z", 10.0)
    late = _update("update", "2026-11-28T10:00:30.000Z", update=1)  # after the run ended
    other = _update("destroy", "2026-11-28T10:00:05.000Z", delete=1)  # inside, but not what the run did
    merged = history.merge_history([late, other], [deploy])
    assert all(e.audit is None for e in merged if e.engine)
    assert [e.engine for e in merged] == [True, True, False]


# ---------------------------------------------------------------- reading records back: one model, located problems


def test_records_read_back_as_written(config):
    manifest = config.root / "manifests" / "portal.yaml"
    written = audit.record_operation(config, operation="deploy", stack=STACK, result="refused", manifest=manifest,
                                     changes=deploy_result(), error="the saved plan moved", plan_file="change.plan",
                                     allow_data_loss=True, duration_seconds=1.25)
    (read,) = audit.read_audit(config)
    assert read == dataclasses.replace(written, counts={"create": 23},
                                       resources={k: list(v) for k, v in written.resources.items()})
    d = lines(config)[0]
    assert list(d) == ["v", "time", "operation", "stack", "result", "durationSeconds", "user", "host", "manifest",
                       "git", "changes", "govcloudVersion", "error", "planFile", "allowDataLoss", "seq", "prev"]
    assert (d["seq"], d["prev"]) == (1, "0" * 64)  # the first record of the hash chain
    plain = audit.AuditRecord(operation="destroy", stack=STACK, result="ok").to_json()
    assert not {"error", "ci", "planFile", "allowDataLoss", "seq", "prev"} & set(plain)  # written only when set


def test_damaged_records_are_located_and_skipped(config):
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok")
    path = audit.audit_path(config)
    good = path.read_text()
    record = json.loads(good)
    wrong = {**record, "result": "great", "durationSeconds": "slow"}
    wrong["changes"] = {"counts": {"create": "23"}, "resources": {}}
    newer = {**record, "addedLater": {"x": 1}}  # a newer govcloud's v1 record: kept, the field ignored
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(wrong) + "\n" + "[1, 2]\n" + json.dumps(newer) + "\n" + json.dumps({"v": 1}) + "\n")
    records, bad = audit.scan_audit(path)
    assert len(records) == 2 and records[1].stack == STACK
    second = path.read_text().splitlines()[1]
    slow, great, n23 = (second.index(value) + 1 for value in ('"slow"', '"great"', '"23"'))
    assert [p.format() for p in bad] == [  # in the order they are written
        f"{path}:2:{great}: error: result: must be 'ok', 'failed', 'interrupted' or 'refused'",
        f"{path}:2:{slow}: error: durationSeconds: must be a number, got a string",
        f"{path}:2:{n23}: error: changes.counts.create: must be a whole number, got a string",
        f"{path}:3:1: error: not an audit record: expected a JSON object",
        f"{path}:5:1: error: time: required field 'time' is missing",
        f"{path}:5:1: error: operation: required field 'operation' is missing",
        f"{path}:5:1: error: stack: required field 'stack' is missing",
        f"{path}:5:1: error: result: required field 'result' is missing",
    ]
    assert len(audit.read_audit(config)) == 2
