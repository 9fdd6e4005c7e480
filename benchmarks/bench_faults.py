"""Benchmark: the long fault run on the dev cloud (issue 15), the figures the reliability document reports.

    .venv/bin/python benchmarks/bench_faults.py [--kill-trials 21] [--random-rounds 3] [--seed 15]

What tests/e2e/test_faults.py runs, longer: the fault scenarios (tests/faults/runs.py SCENARIOS), then
--random-rounds more of the "every kind of fault at random on every API" scenario with other seeds
(alternating a grow and a shrink), then --kill-trials SIGKILL trials at distinct points of the apply
(cycling replace, shrink, grow), then destroy under faults. Every faulty run must exit 0 or 3 without a
traceback; after every plain run the invariants must hold (tests/faults/invariants.py). Prints one line per
run and the totals, and writes them to tests/faults/last-run.json ("benchmark"). Exits 1 when any run broke
an invariant. Needs the toolchain (scripts/install-toolchain) and the dev cloud (sudo scripts/devcloud up);
takes about 40 s per run on the 2-core dev machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.faults.harness import KEYSTONE, PROJECT, FaultRepo, sweep  # noqa: E402
from tests.faults.proxy import FaultProxy, FaultSchedule  # noqa: E402
from tests.faults.runs import DESTROY, SCENARIOS, FaultRun, Scenario, totals, write_figures  # noqa: E402


def random_rounds(count: int, seed: int) -> list[Scenario]:
    """More rounds of the random scenario with other seeds, alternating a shrink to A and a grow to B (the
    scenarios end in B)."""
    (base,) = [s for s in SCENARIOS if "at random" in s.name]
    what = base.name.split(": ", 1)[1]
    return [dataclasses.replace(base, name=f"{'shrink' if i % 2 == 0 else 'grow'} #{i + 2}: {what}",
                                shape="A" if i % 2 == 0 else "B", seed=seed + i) for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kill-trials", type=int, default=21)
    ap.add_argument("--random-rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)

    from govcloud.cloud.credentials import connect

    conn = connect("devcloud", PROJECT, "RegionOne", api_timeout=60)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="govcloud-bench-faults-") as tmp, \
            FaultProxy(KEYSTONE, log_file=Path(tmp) / "faults.jsonl") as proxy:
        repo = FaultRepo(Path(tmp) / "repo", f"bfaults-{secrets.token_hex(3)}", proxy.auth_url)
        run = FaultRun(proxy, conn, repo)

        def show(out) -> None:
            faults = ",".join(f"{k}:{v}" for k, v in sorted(out.faults.items())) or "-"
            kill = f" kill@{out.kill['changes']} ({out.kill['last']})" if out.kill else ""
            print(f"{'ok ' if out.ok else 'BAD'} {out.seconds:6.1f}s exit {out.exit}->{out.plain_exit} "
                  f"[{faults}]{kill} {out.name}" + ("" if out.ok else f"\n    {out.findings} {out.expected}"),
                  flush=True)

        try:
            for sc in (*SCENARIOS, *random_rounds(args.random_rounds, args.seed + 100)):
                show(run.scenario(sc))
            run.kill_trials(args.kill_trials, seed=args.seed, each=show)
            show(run.scenario(DESTROY))
        finally:
            proxy.set_schedule(FaultSchedule())
            repo.destroy_leftovers()
            leaked = sweep(conn, repo.prefix)  # only when the destroy could not clean up
            if leaked:
                print(f"left in the cloud after the destroy (now deleted): {leaked}")
            section = write_figures("benchmark", run.outcomes, killTrialsAsked=args.kill_trials,
                                    randomRounds=args.random_rounds, seed=args.seed,
                                    wallSeconds=round(time.monotonic() - t0, 1))
    for k, v in totals(run.outcomes).items():
        print(f"{k:>22}: {v}")
    print(f"figures: {Path('tests/faults/last-run.json')} (benchmark, {section['finished']})")
    return 0 if all(o.ok for o in run.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
