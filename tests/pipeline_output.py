"""Everything the offline pipeline prints for the benchmark's manifests, to compare before and after a change.

The optimisations of issue 16 (compiler, user data, policy pack, loading) must not change one byte
of what govcloud prints. `pipeline_output(count, workdir)` generates the first `count` manifests of
benchmarks/bench_pipeline.py into `workdir`/manifests and records:

- `govcloud validate manifests` (text) and `--format json`: exit code, the full stdout and stderr
  of the text run, and the sha256 of the JSON run's stdout (630 KB for 200 manifests);
- for every manifest, the sha256 of its compiled ResourcePlan JSON (`ResourcePlan.dumps()`, the
  plan that `plan --format json` prints and the engine child receives) and of its cost estimate's
  JSON (`plan` and `cost` print it).

The commands run in process through Click (as `govcloud` runs them), from `workdir`, so the file
names in the output are relative and the same on every machine. The golden record was produced by
running this file on the code before the change (commit cd5b7f5):

    cd /tmp/perf-before && /work/main/.venv/bin/python /work/wt/perf/tests/pipeline_output.py \\
        --count 200 --out /work/wt/perf/tests/fixtures/pipeline/golden-200.json.gz
    ... --count 1000 --text-digest --out /work/wt/perf/tests/fixtures/pipeline/golden-1000.json.gz

(the checkout to record is the current directory: it goes first on sys.path). One deliberate change of
the plan came after the speed work and went again: from 52cf440 to the day after, a server, not its port,
waited for the router interface (its records were made on cd5b7f5 with that one change applied). Since
then the port waits for it again, as on cd5b7f5, and the records are cd5b7f5's own once more (edcb766's
files): the speed work changed nothing. tests/unit/test_pipeline_golden.py compares a fresh record of 200
with it, tests/e2e/test_pipeline_golden.py one of all 1,000 (about 10 s).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pipeline_output(count: int, workdir: Path, *, text_digest: bool = False, validate_args: tuple[str, ...] = (),
                    plans: bool = True) -> dict:
    """The record of what validate, plan and cost print for the first `count` benchmark manifests
    (with `text_digest`, the text run's stdout and stderr as their sha256 only; `validate_args` go after
    `validate manifests`, e.g. `--jobs 2`; without `plans`, the record has no plans or costs)."""
    from click.testing import CliRunner

    from govcloud.check import Workspace, check_paths  # first: bench_pipeline puts this repo on sys.path
    from govcloud.cli import cli
    from govcloud.config import ConfigRepo
    from govcloud.plan.cost import estimate

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_pipeline import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))

    generate(workdir / "manifests", count)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        runner = CliRunner()
        text = runner.invoke(cli, ["validate", "manifests", *validate_args], catch_exceptions=False)
        as_json = runner.invoke(cli, ["validate", "manifests", "--format", "json", *validate_args],
                                catch_exceptions=False)
        ws = Workspace(ConfigRepo(None))
        results, _ = check_paths([Path("manifests")], ws) if plans else ([], None)
        plans, costs = {}, {}
        for r in results:
            if r.plan is None:
                continue
            plans[r.file] = _sha(r.plan.dumps())
            rate_card = ws.inventory.site(r.plan.service.site).rate_card
            costs[r.file] = _sha(json.dumps(estimate(r.plan, rate_card).to_json(), sort_keys=True))
    finally:
        os.chdir(old)
    # the shipped blueprints are named by their absolute path (a finding in one is located there): the
    # checkout's own directory is written as <checkout>, so that records from two checkouts compare
    import govcloud

    checkout = f"{Path(govcloud.__file__).resolve().parent.parent}/"
    stdout, stderr = (t.replace(checkout, "<checkout>/") for t in (text.stdout, text.stderr))
    json_out = as_json.stdout.replace(json.dumps(checkout)[1:-1], "<checkout>/")
    return {
        "count": count,
        "validate": ({"exit_code": text.exit_code, "stdout_sha256": _sha(stdout),
                      "stderr_sha256": _sha(stderr), "stderr_lines": stderr.count("\n")} if text_digest
                     else {"exit_code": text.exit_code, "stdout": stdout, "stderr": stderr}),
        "validate_json": {"exit_code": as_json.exit_code, "stdout_sha256": _sha(json_out),
                          "stdout_bytes": len(json_out.encode("utf-8"))},
        "plans_sha256": plans,
        "costs_sha256": costs,
    }


def read_record(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def write_record(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    with open(path, "wb") as f:  # mtime 0: the same record gives the same bytes
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(data)


if __name__ == "__main__":
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--text-digest", action="store_true", help="record the text output as sha256 only")
    args = ap.parse_args()
    sys.path.insert(0, os.getcwd())  # the checkout to record
    os.environ.pop("GOVCLOUD_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        record = pipeline_output(args.count, Path(tmp), text_digest=args.text_digest)
    import govcloud

    print(f"recorded {args.count} manifests with govcloud from {Path(govcloud.__file__).parent}: exit code "
          f"{record['validate']['exit_code']}, {len(record['plans_sha256'])} plans, "
          f"{record['validate'].get('stderr_lines', record['validate'].get('stderr', '').count(chr(10)))} lines on stderr", file=sys.stderr)
    write_record(record, args.out)
