"""The fault scenarios and kill trials, and their figures: what tests/e2e/test_faults.py asserts on and
benchmarks/bench_faults.py runs longer.

A scenario runs one govcloud command (deploy to a shape, or destroy) under a fault schedule, then the same
command plainly (no faults: what a user does after exit 3) and checks the invariants (invariants.py). A kill
trial SIGKILLs a deploy's whole process tree at the k-th step of a changing resource, then deploys plainly
and checks the same invariants. Every faulty run must end with exit 0 or 3, never a traceback, and an exit 3
must say which API failed and what to do.

Figures go to tests/faults/last-run.json (`FIGURES`), one section per source ("e2e", "benchmark"), for
the reliability document.
"""
from __future__ import annotations

import collections
import datetime
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from tests.faults.harness import FaultRepo, after_changes, at_step, kill_after, may_lose
from tests.faults.invariants import Findings, check, cloud_inventory, data_ids
from tests.faults.proxy import FaultProxy, FaultSchedule, Rule

FIGURES = Path(__file__).with_name("last-run.json")


@dataclass(frozen=True)
class Scenario:
    name: str
    shape: str | None  # the shape deployed; None: destroy
    rules: tuple[Rule, ...]
    seed: int = 0
    kill_first: str | None = None  # a plain deploy killed at this step first: the faults hit its recovery
    expect_faulty: str = ""  # text the faulty run's stderr must hold
    expect_plain: str = ""  # text the plain run's stderr must hold (what recovery did)


def _rates(rate: float, **scope) -> tuple[Rule, ...]:
    return (Rule("500", rate=rate, **scope), Rule("503", rate=rate, when="after", **scope),
            Rule("429", rate=rate, delay=1, **scope), Rule("reset", rate=rate, **scope),
            Rule("reset", rate=rate, when="after", **scope), Rule("slow", rate=rate, delay=2, **scope))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("first deploy: Neutron answers 503 to the third POST", "A",
             (Rule("503", service="network", method="POST", nth=(3,)),)),
    Scenario("grow: the connection resets after Nova created the server", "B",
             (Rule("reset", service="compute", method="POST", path=r"/servers$", nth=(1,), when="after"),),
             expect_plain="the interrupted run had created it"),
    Scenario("replace volumes: Cinder's answer to the new volume is lost (503 after the create)", "C",
             (Rule("503", service="volume", method="POST", path=r"/volumes$", nth=(1,), when="after"),),
             expect_plain="created its replacement"),
    Scenario("shrink: Nova 500 on a DELETE, Neutron resets after a DELETE", "A",
             (Rule("500", service="compute", method="DELETE", nth=(1,)),
              Rule("reset", service="network", method="DELETE", nth=(1,), when="after"))),
    Scenario("grow: 429 with Retry-After from Nova, slow Neutron, a Cinder create answered late", "B",
             (Rule("429", service="compute", method="GET", rate=0.3, delay=2),
              Rule("slow", service="network", method="GET", rate=0.3, delay=3),
              Rule("slow", service="volume", method="POST", nth=(1,), delay=8, when="after")), seed=5),
    Scenario("replace volumes: Keystone 500 on a token request", "C",
             (Rule("500", service="identity", method="POST", nth=(2,)),)),
    Scenario("shrink: every kind of fault at random on every API (8 % each)", "A", _rates(0.08), seed=11),
    Scenario("grow after a SIGKILL: the recovery's lookups in Nova time out", "B",
             (Rule("slow", service="compute", method="GET", rate=1.0, delay=8),), kill_first="start create server-web-2",
             expect_faulty="could not look up", expect_plain="recovery: server-web-2:"),
)
DESTROY = Scenario("destroy: Cinder resets after a volume DELETE, Swift 503 on the bucket DELETE", None,
                   (Rule("reset", service="volume", method="DELETE", nth=(1,), when="after"),
                    Rule("503", service="object-store", method="DELETE", nth=(1,))))
TRIAL_SHAPES = ("C", "A", "B")  # from B: replace, shrink, grow, again


@dataclass
class Outcome:
    """One scenario or kill trial."""

    name: str
    kind: str  # scenario | kill
    command: str
    faults: dict[str, int] = field(default_factory=dict)
    exit: int | None = None  # the faulty (or killed) run's
    traceback: bool = False
    explained: bool = True  # exit 0, or exit 3 naming the failed API / the lookup and what to do
    kill: dict | None = None
    plain_exit: int | None = None
    recovery_notes: list[str] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    expected: list[str] = field(default_factory=list)  # expected texts that were missing
    message: str = ""  # what the faulty run said (its error lines)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.traceback and self.explained and self.plain_exit == 0 and self.findings.ok
                and not self.expected and self.exit in (0, 3, -9, None))

    def to_json(self) -> dict:
        out = asdict(self)
        out["findings"] = vars(self.findings)
        out["ok"] = self.ok
        if self.kill:
            out["kill"] = {k: v for k, v in self.kill.items() if k != "stderr"}
        return out


def explained(rc: int, stderr: str) -> bool:
    """An exit 3 says which API failed (or which lookup) and what to do."""
    if rc != 3:
        return rc == 0
    return (("failed API:" in stderr and "what to do:" in stderr)
            or ("could not look up" in stderr and "run the same command again" in stderr))


def error_lines(stderr: str, limit: int = 2000) -> str:
    """The error a run ended with, as printed (from its `error:` line)."""
    at = stderr.find("error:")
    return stderr[at:][:limit].strip() if at >= 0 else ""


class FaultRun:
    """Scenarios and kill trials on one stack, through one proxy; `outcomes` collects them."""

    def __init__(self, proxy: FaultProxy, conn, repo: FaultRepo):
        self.proxy, self.conn, self.repo = proxy, conn, repo
        self.outcomes: list[Outcome] = []

    def _settle(self, out: Outcome, destroy: bool, before: dict, old: str | None, new: str | None) -> None:
        self.proxy.set_schedule(FaultSchedule())
        repo = self.repo
        args = (["destroy", repo.manifest, "--yes", "--allow-data-loss"] if destroy else repo.deploy_args())
        r = repo.run(*args)
        out.plain_exit = r.returncode
        out.traceback = out.traceback or "Traceback" in r.stderr
        out.recovery_notes = [ln for ln in r.stderr.splitlines() if ln.startswith("recovery:")]
        if r.returncode != 0:
            out.recovery_notes.append(f"plain run failed: {r.stderr.strip()[-600:]}")
        if destroy:
            left = {k: v for k, v in cloud_inventory(self.conn, repo.prefix).items() if v}
            out.findings = Findings(orphans=[f"{k} {n} ({i})" for k, items in left.items() for n, i in items])
        else:
            lose = may_lose(repo.prefix, old, new or "A")
            out.findings, _ = check(self.conn, repo, data_before=before, may_lose=lose)
        repo.shape = new

    def scenario(self, sc: Scenario) -> Outcome:
        t0 = time.monotonic()
        repo = self.repo
        old = repo.shape
        before = data_ids(cloud_inventory(self.conn, repo.prefix))
        out = Outcome(sc.name, "scenario", "destroy" if sc.shape is None else f"deploy {old or '-'} -> {sc.shape}")
        if sc.shape is not None:
            repo.write_shape(sc.shape)
        if sc.kill_first:
            self.proxy.set_schedule(FaultSchedule())
            out.kill = kill_after(repo, at_step(sc.kill_first))
        self.proxy.faults.clear()
        self.proxy.set_schedule(FaultSchedule(sc.rules, seed=sc.seed))
        args = (["destroy", repo.manifest, "--yes", "--allow-data-loss"] if sc.shape is None else repo.deploy_args())
        r = repo.run(*args)
        out.faults = self.proxy.counts()
        out.exit = r.returncode
        out.traceback = "Traceback" in r.stderr
        out.explained = explained(r.returncode, r.stderr)
        out.message = error_lines(r.stderr)
        if sc.expect_faulty and sc.expect_faulty not in r.stderr:
            out.expected.append(f"faulty run: {sc.expect_faulty!r} not in {r.stderr.strip()[-600:]!r}")
        self._settle(out, sc.shape is None, before, old, sc.shape)
        if sc.expect_plain and not any(sc.expect_plain in n for n in out.recovery_notes):
            out.expected.append(f"plain run: {sc.expect_plain!r} not in {out.recovery_notes}")
        out.seconds = round(time.monotonic() - t0, 1)
        self.outcomes.append(out)
        return out

    def kill_trial(self, shape: str, k: int) -> Outcome:
        t0 = time.monotonic()
        repo = self.repo
        old = repo.shape
        before = data_ids(cloud_inventory(self.conn, repo.prefix))
        out = Outcome(f"SIGKILL at change step {k} of {old} -> {shape}", "kill", f"deploy {old} -> {shape}")
        self.proxy.set_schedule(FaultSchedule())
        repo.write_shape(shape)
        out.kill = kill_after(repo, after_changes(k))
        out.exit = out.kill["exit"]
        out.traceback = "Traceback" in out.kill["stderr"]
        out.explained = True  # a killed process says nothing
        self._settle(out, False, before, old, shape)
        out.seconds = round(time.monotonic() - t0, 1)
        self.outcomes.append(out)
        return out

    def kill_trials(self, count: int, seed: int = 15, max_step: int = 17,
                    each: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """`count` trials cycling through TRIAL_SHAPES, each at a (shape, k) no other trial used; `each` sees
        every outcome as it comes."""
        rnd = random.Random(seed)
        used: set[tuple[str, int]] = set()
        out = []
        for i in range(count):
            shape = TRIAL_SHAPES[i % len(TRIAL_SHAPES)]
            free = [k for k in range(1, max_step + 1) if (shape, k) not in used]
            k = rnd.choice(free)
            used.add((shape, k))
            out.append(self.kill_trial(shape, k))
            if each is not None:
                each(out[-1])
        return out


def totals(outcomes: list[Outcome]) -> dict:
    """The figures of a run: faults by kind, scenarios and trials ending well, what the invariants found."""
    faults: collections.Counter[str] = collections.Counter()
    for o in outcomes:
        faults.update(o.faults)
    kills = [o for o in outcomes if o.kind == "kill"]
    scen = [o for o in outcomes if o.kind == "scenario"]

    def count(attr: str) -> int:
        return sum(len(getattr(o.findings, attr)) for o in outcomes)

    return {
        "faultsInjected": sum(faults.values()), "faultsByKind": dict(sorted(faults.items())),
        "scenarios": len(scen), "scenariosOk": sum(o.ok for o in scen),
        "faultyRunsExit": dict(collections.Counter(str(o.exit) for o in scen)),
        "killTrials": len(kills), "killTrialsOk": sum(o.ok for o in kills),
        "killsLanded": sum(bool(o.kill and o.kill["killed"]) for o in kills),
        "orphans": count("orphans"), "duplicates": count("duplicates"), "dangling": count("dangling"),
        "pendingLeft": count("pending"), "volumesLost": count("volumes_lost"), "bucketsLost": count("buckets_lost"),
        "followUpPreviews": sum(o.kind == "kill" or o.command != "destroy" for o in outcomes),
        "emptyFollowUpPreviews": sum(not o.findings.preview_changes for o in outcomes
                                     if o.kind == "kill" or o.command != "destroy"),
        "tracebacks": sum(o.traceback for o in outcomes),
        "unexplainedFailures": sum(not o.explained for o in outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 1),
    }


def write_figures(section: str, outcomes: list[Outcome], **extra) -> dict:
    """Merge this run's figures into FIGURES under `section` ("e2e" or "benchmark")."""
    try:
        doc = json.loads(FIGURES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    doc["schemaVersion"] = 1
    doc[section] = {"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    **extra, "totals": totals(outcomes), "runs": [o.to_json() for o in outcomes]}
    FIGURES.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc[section]
