"""Faults on the dev cloud: the real CLI, the real engine and OpenStack, a fault-injecting proxy between them.

One stack (a small citizen portal: a server with a volume, a bucket; grown to two servers with two volumes
each, their logs volumes replaced, shrunk again) is deployed, changed and destroyed through the proxy
(tests/faults/proxy.py), which rewrites Keystone's catalog so that every call of the provider and of
govcloud's own lookups passes through it:

1. eight scenarios (tests/faults/runs.py SCENARIOS): 503, 500, 429 with Retry-After, slow answers and
   connection resets, before the cloud sees a call or after it acted, on Keystone, Nova, Neutron, Cinder and
   Swift, during a first deploy, a grow, a replacement, a shrink and a recovery; then the same command
   without faults;
2. SIGKILL of the whole process tree at distinct points of the apply (GOVCLOUD_FAULT_KILL_TRIALS, 4 here;
   benchmarks/bench_faults.py runs 21), then a plain deploy;
3. destroy under faults, then a plain destroy: nothing left.

After every plain run the invariants hold (tests/faults/invariants.py, read from the real APIs): no orphan,
no duplicate, nothing dangling, no pending operation, an empty follow-up preview, no volume or bucket lost.
Every faulty run exits 0 or 3, never with a traceback, and an exit 3 names the failed API and what to do.
The figures go to tests/faults/last-run.json ("e2e").

Runs alone (it shares the dev cloud: unique stack name, cleaned up). FAILS, never skips, without the dev
cloud or the toolchain: `scripts/install-toolchain`, `sudo scripts/devcloud up`.
"""
from __future__ import annotations

import os
import secrets

import pytest

from stackrepo import PROJECT, preconditions
from tests.faults.harness import KEYSTONE, FaultRepo, sweep
from tests.faults.invariants import cloud_inventory
from tests.faults.proxy import FaultProxy, FaultSchedule
from tests.faults.runs import DESTROY, SCENARIOS, FaultRun, write_figures

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # openstacksdk's, on every inventory
KILL_TRIALS = int(os.environ.get("GOVCLOUD_FAULT_KILL_TRIALS") or 4)


@pytest.fixture(scope="module")
def conn():
    preconditions()
    from govcloud.cloud.credentials import connect

    return connect("devcloud", PROJECT, "RegionOne", api_timeout=60)  # the real APIs, never the proxy


@pytest.fixture(scope="module")
def run(tmp_path_factory, conn):
    root = tmp_path_factory.mktemp("govcloud-faults")
    with FaultProxy(KEYSTONE, log_file=root / "faults.jsonl") as proxy:
        repo = FaultRepo(root / "repo", f"faults-{secrets.token_hex(3)}", proxy.auth_url)
        fault_run = FaultRun(proxy, conn, repo)
        yield fault_run
        proxy.set_schedule(FaultSchedule())
        repo.destroy_leftovers()
        leaked = sweep(conn, repo.prefix)  # only when the destroy could not clean up
        assert not leaked, f"left in the cloud after the destroy (now deleted): {leaked}"
    write_figures("e2e", fault_run.outcomes, killTrialsAsked=KILL_TRIALS)


def describe(out) -> str:
    return (f"{out.name}: faulty exit {out.exit}, faults {out.faults}, plain exit {out.plain_exit}, "
            f"findings: {out.findings}; missing: {out.expected}; notes: {out.recovery_notes}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{i}-{s.name.split(':')[0].replace(' ', '-')}"
                                                      for i, s in enumerate(SCENARIOS, 1)])
def test_a_fault_scenario_ends_with_every_invariant_holding(run, scenario):
    out = run.scenario(scenario)
    assert sum(out.faults.values()) > 0, f"no fault was injected: {describe(out)}"
    assert not out.traceback, describe(out)
    assert out.exit in (0, 3) and out.explained, describe(out)
    assert out.plain_exit == 0, describe(out)
    assert out.findings.ok and not out.expected, describe(out)


def test_sigkill_at_distinct_points_of_the_apply_then_a_plain_deploy_holds_every_invariant(run):
    trials = run.kill_trials(KILL_TRIALS)
    points = [(t.command, t.name) for t in trials]
    assert len(set(points)) == len(points) == KILL_TRIALS
    assert sum(t.kill["killed"] for t in trials) >= KILL_TRIALS - 1, [t.kill for t in trials]
    bad = [describe(t) for t in trials if not t.ok]
    assert not bad, "\n".join(bad)


def test_destroy_under_faults_then_a_plain_destroy_leaves_nothing(run, conn):
    out = run.scenario(DESTROY)
    assert sum(out.faults.values()) > 0 and not out.traceback, describe(out)
    assert out.exit in (0, 3) and out.explained and out.plain_exit == 0, describe(out)
    assert out.findings.ok, describe(out)
    assert not any(cloud_inventory(conn, run.repo.prefix).values())
