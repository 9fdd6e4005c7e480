"""Benchmark: many stacks. N copies of one small network-only service (7 resources each) on the dev cloud,
applied four ways in one run, and a no-change `deploy DIR` of M manifests against validating them.

    .venv/bin/python benchmarks/bench_fleet.py [--stacks 20] [--noop 100] [--json out.json]

A. apply N new stacks (file:// backend in a temporary config repo, project gov-moe), each way timed as a
   user runs it (wall clock of the commands), the stacks destroyed between ways (not timed; two at a time):
     serial    `govcloud deploy FILE --yes`, once per manifest, one after the other
     DIR -pN   `govcloud deploy DIR --yes --parallel P` for P = 1, 2, 4 (the local process pool)
   reported: total wall time and the median per-stack time (from the summary's JSON).
B. `govcloud validate DIR` vs a no-change `govcloud deploy DIR --yes` of M manifests whose stacks the index
   records at their current digests (recorded directly: what a deploy records; no engine runs for them):
   medians of 5 runs each.
Needs the toolchain (scripts/install-toolchain) and the dev cloud (scripts/devcloud up).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
TOKEN = secrets.token_hex(2)


def write_repo(root: Path, n: int, prefix: str) -> list[Path]:
    (root / "manifests").mkdir(parents=True)
    shutil.copytree(REPO / "inventories", root / "inventories")
    (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    files = []
    for i in range(n):
        path = root / "manifests" / f"s{i:03d}.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "govcloud/v1", "kind": "Service",
            "metadata": {"name": f"{prefix}{i:03d}", "agency": "moe", "environment": "dev",
                         "owner": "bench@moe.gov.example", "costCenter": "BENCH-1", "classification": "internal"},
            "spec": {"site": "devcloud", "network": {"cidr": f"10.{200 + i // 250}.{i % 250}.0/24"}}},
            sort_keys=False))
        files.append(path)
    return files


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    e.update({"GOVCLOUD_PASSPHRASE": "bench-" + TOKEN, "NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    return e


def gc(root: Path, *args, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "govcloud", *map(str, args)], cwd=root, env=env(),
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"govcloud {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return took, r


def destroy_all(root: Path, files: list[Path]) -> None:
    """Not timed: two destroys at a time (the 2-core machine's useful parallelism)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda f: gc(root, "destroy", f, "--yes", check=False), files))


def report(way: str, figures: dict) -> None:
    print(f"{way}: {figures['total']:.1f} s wall, median stack {figures['median_stack']:.1f} s", file=sys.stderr,
          flush=True)


def apply_ways(n: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        files = write_repo(root, n, f"bf{TOKEN}-")
        try:
            per = []
            t0 = time.monotonic()
            for f in files:
                took, _ = gc(root, "deploy", f, "--yes")
                per.append(took)
            out["serial deploy FILE"] = {"total": time.monotonic() - t0, "median_stack": statistics.median(per)}
            report("serial deploy FILE", out["serial deploy FILE"])
            destroy_all(root, files)
            for p in (1, 2, 4):
                took, r = gc(root, "deploy", "manifests", "--yes", "--all", "--parallel", p, "--format", "json")
                doc = json.loads(r.stdout)
                assert doc["counts"]["changed"] == n, doc["counts"]
                out[f"deploy DIR --parallel {p}"] = {
                    "total": took, "median_stack": statistics.median(s["durationSeconds"] for s in doc["stacks"])}
                report(f"deploy DIR --parallel {p}", out[f"deploy DIR --parallel {p}"])
                destroy_all(root, files)
        finally:
            destroy_all(root, files)
    return out


def noop_vs_validate(m: int, runs: int = 5) -> dict:
    from govcloud.check import check_manifest
    from govcloud.config import ConfigRepo
    from govcloud.ops.digest import input_digest
    from govcloud.shared.index import FileStackIndex, operation_entry

    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        root = Path(tmp)
        files = write_repo(root, m, f"bn{TOKEN}-")
        config = ConfigRepo(root)
        index = FileStackIndex(root / ".govcloud" / "index")
        for f in files:  # what a deploy of each would record
            c = check_manifest(f)
            d = input_digest(f, c.plan, config)
            s = c.plan.service
            index.put(operation_entry(None, stack=f"{s.pulumi_project}/{s.stack}", agency="moe", site="devcloud",
                                      environment="dev", manifest=f"manifests/{f.name}", operation="deploy",
                                      result="ok", digest=d.value, digest_parts=d.parts))
        val = [gc(root, "validate", "manifests")[0] for _ in range(runs)]
        dep = []
        for _ in range(runs):
            took, r = gc(root, "deploy", "manifests", "--yes", "--format", "json")
            assert json.loads(r.stdout)["counts"]["unchanged"] == m
            assert not (root / ".govcloud" / "logs").exists(), "an engine ran"
            dep.append(took)
    return {"validate DIR": statistics.median(val), "no-change deploy DIR": statistics.median(dep)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stacks", type=int, default=20)
    ap.add_argument("--noop", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args()
    res = {"stacks": args.stacks, "noop": args.noop, "noop_seconds": noop_vs_validate(args.noop)}
    print(json.dumps(res, indent=1), flush=True)
    res["apply_seconds"] = apply_ways(args.stacks)
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
