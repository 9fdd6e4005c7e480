"""Benchmark: what `govcloud validate DIR` does (check.check_paths: load, blueprints, schema,
references, compile, user data, policy pack) for 1,000 varied manifests in one process,
next to the bare YAML parse of the same files.

    .venv/bin/python benchmarks/bench_pipeline.py [--count 1000] [--repeat 5]

The manifests are generated into benchmarks/out/manifests (varied agencies,
sites, blueprints, server counts, volumes, buckets, ingress rules). Each
figure is the median CPU time of --repeat runs; the bare parse is PyYAML with
libyaml (CSafeLoader), the fastest safe parse PyYAML offers.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from govcloud.config import ConfigRepo  # noqa: E402
from govcloud.load.inventory import Inventory  # noqa: E402
from govcloud.check import Workspace  # noqa: E402
from govcloud.check import check_paths  # noqa: E402

ROLES = ["web", "app", "database", "batch", "base", "open-data"]
CLASSES = ["public", "internal", "internal", "restricted"]


def generate(out: Path, count: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    inv = Inventory(ConfigRepo(None))
    agencies = inv.registry.agencies
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        agency = agencies[i % len(agencies)]
        site = inv.site(rng.choice([s for s in agency.allowed_sites]))
        sizes, images = list(site.sizes), list(site.images)
        vtypes = list(site.volume_types)
        blueprint = rng.choice([None, None, "web-app", "database", "batch", "open-data", "vm"])
        if not {"large", "medium", "small"} <= set(sizes) or "encrypted" not in vtypes:
            blueprint = None  # the blueprints' defaults need these
        lines = [
            "apiVersion: govcloud/v1", "kind: Service", "metadata:",
            f"  name: svc-{i:04d}", f"  agency: {agency.id}", f"  environment: {rng.choice(['dev', 'test', 'staging', 'prod'])}",
            f"  owner: team{i}@{agency.id}.gov.example", f"  costCenter: {agency.id.upper()}-{i:04d}",
            f"  classification: {rng.choice(CLASSES)}", "  labels: {team: t%d, tier: backend}" % (i % 9),
            "spec:",
        ]
        if blueprint:
            lines.append(f"  blueprint: {blueprint}")
        lines += [f"  site: {site.name}", "  network:", f"    cidr: 10.{i // 250}.{i % 250}.0/24", "    ingress:"]
        for r in range(rng.randint(1, 4)):
            port = rng.choice([443, 80, 22, 5432, 8080, 9100])
            lines.append(f"      - {{name: rule{r}, port: {port}, protocol: tcp, from: 10.{r}.0.0/16}}")
        lines.append("  servers:")
        for s in range(rng.randint(1, 3)):
            lines += [f"    - name: srv{s}", f"      size: {rng.choice(sizes)}", f"      image: {rng.choice(images)}",
                      f"      count: {rng.randint(1, 4)}", f"      role: {rng.choice(ROLES)}",
                      f"      publicIp: {str(rng.random() < 0.3).lower()}"]
            vols = rng.randint(0, 2)
            if vols:
                lines.append("      volumes:")
                for v in range(vols):
                    lines.append(f"        - {{name: vol{v}, sizeGb: {rng.randint(1, 500)}, type: {rng.choice(vtypes)}}}")
            if rng.random() < 0.6:
                lines.append(f"      healthCheck: {{port: 443, command: \"systemctl is-active svc{s}\"}}")
        if rng.random() < 0.5:
            lines.append("  buckets:")
            for b in range(rng.randint(1, 2)):
                lines.append(f"    - {{name: bucket{b}, public: false, quotaGb: {rng.randint(1, 1000)}}}")
        path = out / f"svc-{i:04d}.yaml"
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    return files


def bare_parse(files: list[Path]) -> int:
    n = 0
    for f in files:
        n += len(yaml.load(f.read_text(), Loader=yaml.CSafeLoader))
    return n


def pipeline(files: list[Path]) -> int:
    """What `govcloud validate DIR` does: the library call behind it, in one process."""
    ws = Workspace(ConfigRepo(None))
    results, _ = check_paths(files, ws)
    # the generated manifests are valid, though many break ministry policy
    assert all(r.plan is not None for r in results), [r.problems for r in results if r.plan is None][:1]
    return sum(len(r.plan.resources) for r in results)


def median_time(fn, repeat: int) -> float:
    # CPU time of this process: on a shared 2-core machine wall time mostly
    # measures the neighbours; both sides are measured the same way
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    files = generate(HERE / "out" / "manifests", args.count)
    pipeline(files[:20])  # warm caches (site files, templates) as a long-lived process would
    resources = pipeline(files)
    parse = median_time(lambda: bare_parse(files), args.repeat)
    full = median_time(lambda: pipeline(files), args.repeat)
    print(f"manifests: {len(files)}, resources planned: {resources}")
    print(f"bare YAML parse (CSafeLoader): {parse:.3f} s  ({parse / len(files) * 1e3:.2f} ms/manifest)")
    print(f"validate (check_paths: compile + policy): {full:.3f} s  "
          f"({full / len(files) * 1e3:.2f} ms/manifest)")
    print(f"ratio: {full / parse:.2f}x the bare parse")


if __name__ == "__main__":
    main()
