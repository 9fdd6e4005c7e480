"""`validate --jobs`: a batch checked in forked processes (govcloud.fanout, govcloud.check.shares and
validate_paths) gives what one process gives, and a worker that fails or dies is an error, not a hang.
The tests of the forking path run in a child of the test process (tests/forking.py says why).

The 1,000 benchmark manifests, byte for byte with 1, 2 and 3 processes: tests/e2e/test_pipeline_golden.py.
"""
from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from govcloud import check, fanout
from govcloud.check import Workspace, shares, validate_paths
from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError, InputError, Problem

from tests.forking import in_child

from .test_policy import BASE, edit


# -- fan_out


@in_child
def test_each_share_but_the_first_runs_in_a_child_and_the_answers_come_in_share_order():
    me = os.getpid()
    answers = fanout.fan_out(lambda share: (share, os.getpid()), ["a", "b", "c"])
    assert [a for a, _pid in answers] == ["a", "b", "c"]
    pids = [pid for _a, pid in answers]
    assert pids[0] == me and me not in pids[1:] and len(set(pids)) == 3


@in_child
def test_a_childs_error_is_raised_here_with_its_type_and_message():
    def fn(share):
        if share == 2:
            raise InputError([Problem("share two is broken", "spec.site")])
        return share

    with pytest.raises(InputError, match="spec.site: share two is broken") as got:
        fanout.fan_out(fn, [1, 2, 3])
    assert got.value.problems == (Problem("share two is broken", "spec.site"),)


@in_child
def test_an_error_that_does_not_pickle_is_a_govcloud_error_naming_it():
    class Local(Exception):  # a class defined in a function cannot be pickled
        pass

    def fn(share):
        if share:
            raise Local("no way back")
        return share

    with pytest.raises(GovcloudError, match="a worker process failed: Local: no way back"):
        fanout.fan_out(fn, [0, 1])


@in_child
def test_an_answer_that_does_not_pickle_is_a_govcloud_error():
    with pytest.raises(GovcloudError, match="answer cannot be sent back: .*lambda"):
        fanout.fan_out(lambda share: (lambda: share), [0, 1])


@in_child
def test_a_child_killed_by_a_signal_is_an_error_naming_the_signal():
    def fn(share):
        if share:
            os.kill(os.getpid(), signal.SIGKILL)
        return share

    with pytest.raises(GovcloudError, match=r"killed by signal 9 \(SIGKILL\) before it answered"):
        fanout.fan_out(fn, [0, 1])


@in_child
def test_with_another_thread_running_nothing_is_forked():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not fanout.can_fork()
        assert fanout.fan_out(lambda share: os.getpid(), [1, 2, 3]) == [os.getpid()] * 3
    finally:
        stop.set()
        t.join()


@in_child
def test_when_this_process_fails_its_children_are_killed_and_reaped(tmp_path):
    pid_file = tmp_path / "child.pid"

    def fn(share):
        if share:  # the child: says who it is, then would run for a minute
            pid_file.write_text(str(os.getpid()))
            time.sleep(60)
            return share
        for _ in range(500):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.01)
        raise RuntimeError("this process's own share failed")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="own share failed"):
        fanout.fan_out(fn, [0, 1])
    assert time.monotonic() - started < 30  # it did not wait for the child's minute
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(int(pid_file.read_text()), os.WNOHANG)


# -- shares


def _manifest(agency: str, i: int) -> str:
    return edit(BASE, "name: library-portal", f"name: svc-{i}", "agency: moe", f"agency: {agency}")


@pytest.fixture
def batch_dir(tmp_path):
    def make(counts: dict[str, int], extra: dict[str, str] | None = None) -> list[Path]:
        d = tmp_path / "m"
        d.mkdir(exist_ok=True)
        i = 0
        for agency, n in counts.items():
            for _ in range(n):
                (d / f"{i:03d}.yaml").write_text(textwrap.dedent(_manifest(agency, i)))
                i += 1
        for name, text in (extra or {}).items():
            (d / name).write_text(text)
        return sorted(d.iterdir())
    return make


def _rules():
    from govcloud.policy import builtin_rules

    return builtin_rules()


def _agency(path: Path) -> str:
    from govcloud.load.peek import peek_file

    return (peek_file(path) or {}).get("agency_id", "?")


def test_an_agency_is_never_split_and_the_smallest_share_comes_first(batch_dir, monkeypatch):
    monkeypatch.setattr(check, "MIN_FILES_PER_PROCESS", 1)
    files = batch_dir({"moe": 7, "moh": 5, "mefa": 4, "sci": 3})
    split = shares(files, _rules(), 2)
    assert [len(s) for s in split] == [9, 10]  # moe + sci against moh + mefa
    assert sorted(f for s in split for f in s) == files  # every file once
    assert all(s == sorted(s) for s in split)  # each share in the batch's order
    agencies = [{_agency(f) for f in s} for s in split]
    assert agencies[0].isdisjoint(agencies[1]) and set().union(*agencies) == {"moe", "moh", "mefa", "sci"}
    assert shares(files, _rules(), 1) is None


def test_a_small_batch_runs_in_one_process(batch_dir):
    files = batch_dir({"moe": 70, "moh": 57})  # 127 files: fewer than two shares of MIN_FILES_PER_PROCESS
    assert check.MIN_FILES_PER_PROCESS == 64 and shares(files, _rules(), 2) is None
    files = batch_dir({}, {"zzz.yaml": textwrap.dedent(_manifest("moh", 999))})  # one more
    assert [len(s) for s in shares(files, _rules(), 2)] == [58, 70]


@pytest.mark.parametrize("agency_line", ["agency: &x moh", "<<: {agency: moh}"])
def test_a_manifest_peek_cannot_tell_goes_where_its_check_says(batch_dir, monkeypatch, agency_line):
    monkeypatch.setattr(check, "MIN_FILES_PER_PROCESS", 1)
    odd = textwrap.dedent(_manifest("moe", 99)).replace("agency: moe", agency_line)
    files = batch_dir({"moe": 4, "moh": 2, "sci": 1}, {"odd.yaml": odd})
    split = shares(files, _rules(), 2, Workspace(ConfigRepo(None)))
    # its agency is moh for the loader (an anchored scalar, a merge key), and not known to peek
    assert _agency(files[-1]) == "?"
    odd_path = files[-1]
    assert odd_path.name == "odd.yaml" and Workspace(ConfigRepo(None)).check(odd_path).manifest.metadata.agency == "moh"
    share = next(s for s in split if odd_path in s)
    assert {_agency(f) for f in share if f != odd_path} == {"moh", "sci"}


def test_a_file_that_fails_its_check_goes_to_any_share(batch_dir, monkeypatch):
    monkeypatch.setattr(check, "MIN_FILES_PER_PROCESS", 1)
    files = batch_dir({"moe": 3, "moh": 3}, {"list.yaml": "- a\n- b\n", "empty.yaml": "",
                                             "broken.yaml": "apiVersion: govcloud/v1\nkind: [\n"})
    split = shares(files, _rules(), 2, Workspace(ConfigRepo(None)))
    assert split is not None and sorted(f for s in split for f in s) == files


def test_a_group_rule_by_what_peek_cannot_read_makes_one_process_and_no_group_rule_any_split(batch_dir,
                                                                                         monkeypatch):
    monkeypatch.setattr(check, "MIN_FILES_PER_PROCESS", 1)
    files = batch_dir({"moe": 3, "moh": 3})
    by_class = SimpleNamespace(scope="group", group_by=("agency_id", "classification"))
    by_site = SimpleNamespace(scope="group", group_by=("site_name",))
    assert shares(files, [*_rules(), by_class], 2) is not None  # the agency is still common to all
    assert shares(files, [*_rules(), by_site], 2) is None  # nothing peek reads is common to all
    service_only = [r for r in _rules() if r.scope == "service"]
    assert shares(files, service_only, 4) == [files[0:2], files[2:4], files[4:6]]


# -- validate_paths


def _repo(tmp_path: Path, policies: str) -> ConfigRepo:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (root / "policies.yaml").write_text(policies)
    return ConfigRepo(root)


def _same_cidr(agency: str, i: int, cidr: str = "10.90.0.0/24") -> str:
    return textwrap.dedent(_manifest(agency, i)).replace("10.90.0.0/24", cidr)


@in_child
def test_validate_paths_in_three_processes_gives_what_one_gives(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "MIN_FILES_PER_PROCESS", 1)
    config = _repo(tmp_path, textwrap.dedent("""\
        settings: {manifestDirs: [fleet]}
        exceptions:
          - {rule: GC012, severity: off, agencies: [moh], justification: "moh's two networks are never routed"}
        """))
    batch = tmp_path / "batch"
    batch.mkdir()
    for i, agency in enumerate(["moe", "moe", "moh", "moh", "mefa", "sci", "sci", "moe"]):
        (batch / f"{i}.yaml").write_text(_same_cidr(agency, i))  # one agency's networks overlap (GC012)
    (batch / "broken.yaml").write_text("apiVersion: govcloud/v1\nkind: [\n")
    fleet = config.root / "fleet"
    fleet.mkdir()
    (fleet / "moe-neighbour.yaml").write_text(_same_cidr("moe", 50))  # context: overlaps moe's
    # context whose agency peek cannot tell: every share builds it, and it counts once
    (fleet / "anchored.yaml").write_text(_same_cidr("sci", 51, "10.77.0.0/24").replace("agency: sci", "agency: &a sci"))
    forked: list[int] = []
    real_fan_out = fanout.fan_out
    monkeypatch.setattr(fanout, "fan_out", lambda fn, split: forked.append(len(split)) or real_fan_out(fn, split))

    one = validate_paths([batch], Workspace(config), jobs=1)
    three = validate_paths([batch], Workspace(config), jobs=3)
    assert forked == [3]  # the second call really checked in three processes
    for results, _report in (one, three):
        assert all(r.plan is None for r in results)
    assert [(r.file, r.ok, [p.to_dict() for p in r.problems]) for r in one[0]] == \
        [(r.file, r.ok, [p.to_dict() for p in r.problems]) for r in three[0]]
    assert one[1].to_json() == three[1].to_json()
    summary = three[1].to_json()["summary"]
    assert summary["manifests"] == 8 and summary["contextManifests"] == 2
    codes = {p.code for r in three[0] for p in r.problems}
    assert "GC012" in codes  # a cross-manifest finding came through a share
    applied = three[1].to_json()["exceptionsApplied"]
    assert [e["rule"] for e in applied] == ["GC012"]  # moh's overlap waived (the counts: one process's)
    assert next(r for r in three[0] if r.file.endswith("broken.yaml")).ok is False
