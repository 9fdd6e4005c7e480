"""Benchmark: fuzz every example manifest, in one process, for a long run.

    .venv/bin/python benchmarks/fuzz.py [--cases 100000] [--seed 0]

Each case is one example (examples/*/*.yaml) with 1-4 hostile mutations,
structural, textual and byte-wise (tests/fuzzing.py, the same mutations the
unit test's hypothesis run uses), checked as `govcloud validate` checks it
(check.check_paths). A crash is any exception other than InputError; a broken
promise is an invalid file without a located error, a valid one with an
error, or a raw control character in a message. Both are saved to
benchmarks/out/fuzz-failures/ to be replayed. Then the adversarial corpus of
issue 15 (and /dev/zero, /dev/urandom, a FIFO) is refused once each, timed.

Prints cases, valid/invalid, crashes, broken promises, per-case times
(median, p99, slowest with its case), and the process's peak RSS; the same
figures go to benchmarks/out/fuzz.json (`--json`), which
benchmarks/reliability.py renders into docs/reliability.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from govcloud.check import Workspace  # noqa: E402
from govcloud.config import ConfigRepo  # noqa: E402
from tests.fuzzing import SEEDS, FuzzStats, adversarial_corpus, check_case, companion_files, mutate  # noqa: E402

FAILURES = HERE / "out" / "fuzz-failures"
RESULTS = HERE / "out" / "fuzz.json"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fuzz(cases: int, seed: int, workspace: Workspace, path: Path) -> tuple[FuzzStats, list[float], int, int]:
    stats, times, crashes, broken = FuzzStats(), [], 0, 0
    names = sorted(SEEDS)
    for i in range(cases):
        rng = random.Random(f"{seed}:{i}")
        name = rng.choice(names)
        raw = mutate(SEEDS[name], rng)
        label = f"{name} #{i} ({len(raw):,} bytes)"
        start = time.perf_counter()
        try:
            check_case(raw, path, workspace, stats, label)
        except AssertionError as exc:
            broken += 1
            _save("broken", i, raw, f"{label}\n{exc}")
        except Exception:  # noqa: BLE001 - counting crashes is the point
            crashes += 1
            _save("crash", i, raw, f"{label}\n{traceback.format_exc()}")
        times.append(time.perf_counter() - start)
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1:,} cases, {crashes} crashes, {broken} broken, peak {peak_rss_mib():.0f} MiB", flush=True)
    return stats, times, crashes, broken


def _save(kind: str, i: int, raw: bytes, why: str) -> None:
    FAILURES.mkdir(parents=True, exist_ok=True)
    (FAILURES / f"{kind}-{i}.yaml").write_bytes(raw)
    (FAILURES / f"{kind}-{i}.txt").write_text(why)


def adversarial(workspace: Workspace, tmp: Path) -> list[tuple[str, float, bool]]:
    rows = []
    path = tmp / "adversarial.yaml"
    for name, raw in adversarial_corpus():
        start = time.perf_counter()
        ok = check_case(raw, path, workspace)
        rows.append((name, time.perf_counter() - start, ok))
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    for name, special in [("/dev/zero", Path("/dev/zero")), ("/dev/urandom", Path("/dev/urandom")),
                          ("a FIFO nobody writes", fifo)]:
        from govcloud.check import check_paths

        start = time.perf_counter()
        (result,), _ = check_paths([special], workspace)
        rows.append((name, time.perf_counter() - start, result.ok))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS, help="where the figures are written")
    args = parser.parse_args()
    workspace = Workspace(ConfigRepo(None))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        wall = time.perf_counter()
        companion_files(tmp_path)
        stats, times, crashes, broken = fuzz(args.cases, args.seed, workspace, tmp_path / "fuzzed.yaml")
        wall = time.perf_counter() - wall
        times.sort()
        print(f"fuzzed {len(times):,} cases from {len(SEEDS)} examples (seed {args.seed}) in {wall:.0f} s: "
              f"{stats.valid:,} valid, {stats.invalid:,} invalid, {crashes} crashes, {broken} broken promises")
        print(f"per case: median {statistics.median(times) * 1000:.1f} ms, "
              f"p99 {times[int(len(times) * 0.99)] * 1000:.1f} ms, slowest {stats.slowest_s * 1000:.0f} ms "
              f"({stats.slowest_case})")
        print(f"peak RSS after fuzzing: {peak_rss_mib():.0f} MiB")
        print("adversarial corpus (each refused once):")
        rows = adversarial(workspace, tmp_path)
        for name, seconds, ok in rows:
            print(f"  {seconds * 1000:8.1f} ms  {'ACCEPTED' if ok else 'refused'}  {name}")
        print(f"slowest refusal: {max(s for _, s, _ in rows) * 1000:.0f} ms; peak RSS: {peak_rss_mib():.0f} MiB")
        figures = {
            "date": datetime.date.today().isoformat(), "cases": len(times), "seed": args.seed,
            "examples": len(SEEDS), "valid": stats.valid, "invalid": stats.invalid, "crashes": crashes,
            "brokenPromises": broken, "wallSeconds": round(wall, 1),
            "medianMs": round(statistics.median(times) * 1000, 2), "p99Ms": round(times[int(len(times) * 0.99)] * 1000, 2),
            "slowestMs": round(stats.slowest_s * 1000, 1), "slowestCase": stats.slowest_case,
            "peakRssMiB": round(peak_rss_mib()), "cpus": os.cpu_count(),
            "loadAverage": round(os.getloadavg()[1], 1),  # over the last 5 minutes: the times depend on it
            "adversarial": [{"name": name, "ms": round(seconds * 1000, 1), "refused": not ok}
                            for name, seconds, ok in rows],
            "slowestRefusalMs": round(max(s for _, s, _ in rows) * 1000, 1)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    if crashes or broken:
        sys.exit(1)


if __name__ == "__main__":
    main()
