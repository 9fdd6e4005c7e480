"""The audit log's hash chain (govcloud.ops.auditchain) and its heads kept outside the log (ops.auditheads):
each kind of tampering is found and named by file:line, an intact log passes, old records stay readable."""
from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from govcloud.cli import cli
from govcloud.config import ConfigRepo
from govcloud.ops import audit, auditheads
from govcloud.ops.auditchain import (GENESIS, AuditHead, ChainBroken, canonical, next_link, record_hash, verify_chain,
                                     verify_records)
from tests.audit_tampering import STACKS, TAMPERINGS, MemoryHeads, detected, run_case, write_log

STACK, OTHER = STACKS


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    for var in ("GITLAB_CI", "GITHUB_ACTIONS", "GOVCLOUD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return ConfigRepo(None)


@pytest.fixture
def heads():
    return MemoryHeads()


def lines_of(path):
    return path.read_text().splitlines()


def rewrite(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def report(config, heads):
    return auditheads.verify_audit(config, heads=heads)


# ---------------------------------------------------------------- the chain as written


def test_each_record_names_the_hash_of_the_one_before(config, heads):
    path = write_log(config, heads, 3)
    objs = [json.loads(line) for line in lines_of(path)]
    assert [o["seq"] for o in objs] == [1, 2, 3]
    assert objs[0]["prev"] == GENESIS
    # by hand: sha256 of the previous line's JSON with its keys sorted and no whitespace
    for before, after in zip(objs, objs[1:]):
        by_hand = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False).encode()).hexdigest()
        assert after["prev"] == by_hand == record_hash(before)
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    # each stack's state keeps the head written after its own last record
    assert heads.heads == {OTHER: AuditHead(2, record_hash(objs[1])), STACK: AuditHead(3, record_hash(objs[2]))}


def test_an_intact_log_verifies(config, heads):
    write_log(config, heads)
    r = report(config, heads)
    assert r.ok and r.chained == 4 and r.breaks == () and [h.ok for h in r.heads] == [True, True]
    assert r.raise_if_broken() is r
    assert "chain intact, 4 records" in r.summary() and "confirmed by 2 heads" in r.summary()


def test_concurrent_appends_keep_one_chain(config):
    import multiprocessing
    import os

    def append_many(tag):
        for i in range(25):
            audit.record_operation(config, operation="deploy", stack=f"govcloud-p/s{tag}", result="ok")

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=append_many, args=(t,)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert os.environ["GOVCLOUD_STATE_DIR"]
    r = verify_chain(audit.audit_path(config))
    assert r.ok and r.chained == 100
    assert [json.loads(line)["seq"] for line in lines_of(audit.audit_path(config))] == list(range(1, 101))


def test_the_head_is_found_behind_records_longer_than_a_read_block(config):
    keys = [f"server-{i:06d}-" + "x" * 90 for i in range(2000)]  # one record of ~200 KB
    audit.append_audit(config, audit.AuditRecord(operation="deploy", stack=STACK, result="ok",
                                                 counts={"create": len(keys)}, resources={"create": keys}))
    _, head = audit.append_audit(config, audit.AuditRecord(operation="deploy", stack=STACK, result="ok"))
    big, small = (json.loads(line) for line in lines_of(audit.audit_path(config)))
    assert len(json.dumps(big)) > 3 * 64 * 1024
    assert small["prev"] == record_hash(big) and small["seq"] == 2 and head == AuditHead(2, record_hash(small))
    assert verify_chain(audit.audit_path(config)).ok


# ---------------------------------------------------------------- tampering, each kind


@pytest.mark.parametrize("case", TAMPERINGS, ids=[c.name for c in TAMPERINGS])
def test_each_kind_of_tampering_is_named_at_its_line(config, case):
    report = run_case(case, config)
    assert not report.ok
    first = report.breaks[0]
    assert detected(case, report), (first.kind, first.line, first.message)
    path = audit.audit_path(config)
    assert report.summary().startswith(f"audit log chain broken at {path}:{case.line}: ")
    with pytest.raises(ChainBroken) as exc:
        report.raise_if_broken()
    assert exc.value.exit_code == 1


def test_a_record_changed_names_the_changed_one_not_its_successor(config, heads):
    path = write_log(config, heads)
    lines = lines_of(path)
    rec = json.loads(lines[1])
    rec["result"] = "failed"  # someone hides that the deploy succeeded
    lines[1] = json.dumps(rec)
    rewrite(path, lines)
    first = report(config, heads).breaks[0]
    assert (first.kind, first.line, first.seq) == ("changed", 2, 2)
    assert first.message == "record #2 was changed: #3 at line 3 names another hash for it"


def test_a_record_appended_by_hand_leaves_the_heads_matching(config, heads):
    """The heads are before it, so only the chain can tell: it does."""
    path = write_log(config, heads)
    forged = json.loads(lines_of(path)[-1])
    del forged["seq"], forged["prev"]
    with open(path, "a") as f:
        f.write(json.dumps(forged) + "\n")
    r = report(config, heads)
    assert [b.kind for b in r.breaks] == ["unchained"] and all(h.ok for h in r.heads)


def test_the_end_cut_off_is_seen_by_the_head_only(config, heads):
    path = write_log(config, heads)
    rewrite(path, lines_of(path)[:-1])  # the last deploy's record is gone; the chain itself is intact
    assert verify_chain(path).ok
    (b,) = report(config, heads).breaks
    assert (b.kind, b.line, b.seq) == ("head", 3, 4)
    assert b.message.startswith(f"the log ends at #3 (line 3), but the state of stack {OTHER} records head #4")


def test_a_log_rewritten_with_recomputed_hashes_disagrees_with_every_later_head(config, heads):
    path = write_log(config, heads)
    objs = [json.loads(line) for line in lines_of(path)]
    objs[0]["result"] = "failed"
    prev = GENESIS
    for o in objs:
        o["prev"] = prev
        prev = record_hash(o)
    rewrite(path, [json.dumps(o) for o in objs])
    r = report(config, heads)
    assert verify_chain(path).ok  # consistent in itself
    assert [(b.kind, b.seq) for b in r.breaks] == [("head", 3), ("head", 4)]


def test_a_moved_head_is_named_with_its_store(config, heads):
    path = write_log(config, heads)
    heads.heads[STACK] = AuditHead(3, "f" * 64)  # the head in the state is not the log's
    r = report(config, heads)
    (b,) = r.breaks
    assert f"record #3 does not match the head the state of stack {STACK} records (ffffffffffff" in b.message
    assert [(h.where, h.ok) for h in r.heads] == [(f"the state of stack {STACK}", False),
                                                  (f"the state of stack {OTHER}", True)]
    assert verify_chain(path).ok  # the log itself was not touched: only the head disagrees


# ---------------------------------------------------------------- what is not tampering


def test_old_records_without_a_hash_come_before_the_chain(config, heads):
    path = audit.audit_path(config)
    path.parent.mkdir(parents=True)
    old = {"v": 1, "time": "2025-01-01T00:00:00Z", "operation": "deploy", "stack": STACK, "result": "ok"}
    path.write_text(json.dumps(old) + "\n" + json.dumps({**old, "result": "failed"}) + "\n")
    write_log(config, heads, 2)
    objs = [json.loads(line) for line in lines_of(path)]
    assert [o.get("seq") for o in objs] == [None, None, 1, 2] and objs[2]["prev"] == GENESIS
    r = report(config, heads)
    assert r.ok and r.unchained_history == 2 and r.chained == 2 and r.first_line == 3
    assert "2 older records before line 3 carry no hash" in r.summary()
    assert len(audit.read_audit(config)) == 4  # every record still reads


def test_a_torn_write_after_a_crash_is_reported_not_a_break(config, heads):
    write_log(config, heads, 2)
    path = audit.audit_path(config)
    with open(path, "ab") as f:
        f.write(b'{"v":1,"operation":"depl')  # the process died mid-write
    audit.record_operation(config, operation="deploy", stack=STACK, result="ok", heads=heads)
    lines = lines_of(path)
    assert lines[2] == '{"v":1,"operation":"depl'  # the next record starts on a line of its own
    assert json.loads(lines[3])["seq"] == 3
    r = report(config, heads)
    assert r.ok and r.damaged == (3,)
    assert any("lines that are not records" in line and "3" in line for line in r.lines())


def test_a_head_store_that_cannot_be_read_is_said(config):
    write_log(config, MemoryHeads(), 2)

    class Unreadable(MemoryHeads):
        def read(self, stack):
            from govcloud.errors import EngineError

            raise EngineError("backend unreachable")

    r = auditheads.verify_audit(config, heads=Unreadable())
    assert r.ok and all(h.ok is None and "not readable: backend unreachable" in h.note for h in r.heads)


def test_head_text_round_trip():
    head = AuditHead(12, "a" * 64)
    assert AuditHead.from_text(head.to_text()) == head
    for junk in ("", "12", "x:" + "a" * 64, "12:" + "a" * 63, "12:" + "G" * 64):
        assert AuditHead.from_text(junk) is None


# ---------------------------------------------------------------- the commands


@pytest.fixture
def cli_heads(monkeypatch, heads):
    monkeypatch.setattr(auditheads, "heads_for", lambda config, stacks=None: heads)
    return heads


def test_history_warns_when_the_chain_is_broken(config, monkeypatch, tmp_path):
    from govcloud.ops import inspect
    from govcloud.ops.auditchain import ChainBreak, ChainReport

    broken = ChainReport("/s/audit.log", 3, 0, 3, AuditHead(3, "a" * 64),
                         (ChainBreak("removed", 2, "record #2 was removed between line 1 and this one", 2),))
    monkeypatch.setattr(inspect, "history", lambda *a, **k: inspect.History(STACK, [], "/s/audit.log", broken))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("x: 1\n")
    res = CliRunner().invoke(cli, ["history", str(manifest), "--audit"])
    assert res.exit_code == 0
    assert "warning: audit log chain broken at /s/audit.log:2: record #2 was removed" in res.stderr
    assert "warning" not in res.stdout


def test_audit_verify_command(config, cli_heads):
    path = write_log(config, cli_heads)
    ok = CliRunner().invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "chain intact, 4 records" in ok.output and f"the state of stack {STACK}: head #3" in ok.output
    lines = lines_of(path)
    rewrite(path, lines[:1] + lines[2:])
    bad = CliRunner().invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"error: audit log chain broken at {path}:2: record #2 was removed" in bad.output
    doc = json.loads(CliRunner().invoke(cli, ["audit", "verify", "--format", "json", "--stack",
                                              "citizen-portal-dev"]).stdout)
    assert doc["ok"] is False and doc["breaks"][0]["kind"] == "removed" and doc["breaks"][0]["line"] == 2
    assert [h["where"] for h in doc["heads"]] == [f"the state of stack {STACK}"]


def test_rows_of_the_shared_table_are_walked_like_lines_and_named_by_row_id():
    """The shared database's log (shared/auditlog.py) is checked by verify_records: positions are row ids, which
    may have gaps (a rolled-back insert uses an id up), and a changed row is named by its id."""
    objs = []
    for i in range(3):
        last = AuditHead(objs[-1]["seq"], record_hash(objs[-1])) if objs else None
        objs.append({"stack": STACK, "result": "ok", "time": f"t{i}", **next_link(last)})
    rows = list(zip([3, 4, 9], objs))
    intact = verify_records("db govcloud_audit", rows, {"the state": AuditHead(3, record_hash(objs[2]))}, unit="id")
    assert intact.ok and intact.chained == 3 and intact.heads[0].ok
    changed = [(n, dict(o, result="failed") if n == 4 else o) for n, o in rows]
    r = verify_records("db govcloud_audit", changed, unit="id")
    assert not r.ok and r.breaks[0].kind == "changed" and r.breaks[0].line == 4
    assert r.summary().startswith("audit log chain broken at db govcloud_audit id 4: record #2 was changed")
    r = verify_records("db govcloud_audit", [rows[0], rows[2]], unit="id")  # a row gone (the trigger was off)
    assert r.breaks[0].kind == "removed" and r.breaks[0].line == 9
    r = verify_records("db govcloud_audit", [*rows, (10, ["not", "a", "record"])], unit="id")
    assert r.ok and r.damaged == (10,)
