"""All 1,000 benchmark manifests: `govcloud validate DIR` (text and JSON), and every manifest's
ResourcePlan JSON and cost estimate, byte for byte as before the speed work of issue 16 (cd5b7f5).

No cloud needed; it is here because it takes about 10 s (tests/unit/test_pipeline_golden.py checks
the first 200 in the unit suite). The record holds the text output as a digest; tests/pipeline_output.py
says how it was made.

    .venv/bin/python -m pytest tests/e2e/test_pipeline_golden.py
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.forking import in_child
from tests.pipeline_output import pipeline_output, read_record
from tests.unit.test_pipeline_golden import assert_same_output

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline" / "golden-1000.json.gz"


def test_validate_plan_and_cost_of_the_1000_benchmark_manifests_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    golden = read_record(GOLDEN)
    assert len(golden["plans_sha256"]) == 1000 and golden["validate"]["exit_code"] == 1
    assert golden["validate"]["stderr_lines"] == 2348  # 2,347 findings (benchmarks/README.md) and the summary
    assert_same_output(pipeline_output(1000, tmp_path, text_digest=True), golden)


@pytest.mark.parametrize("jobs", ["1", "2", "3"])
@in_child  # single-threaded, so that the shares are really checked in forked children (tests/forking.py)
def test_validate_of_the_1000_prints_the_same_bytes_in_one_process_or_several(tmp_path, monkeypatch, jobs):
    """`--jobs` changes how the batch is checked (govcloud.check.validate_paths), never what is printed:
    with 2 and 3 processes the 1,000 (seven agencies of 142-143 manifests) are checked in 2 and 3 shares."""
    from govcloud.check import Workspace, shares, _Batch
    from govcloud.config import ConfigRepo

    from govcloud.fanout import can_fork

    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    assert can_fork()
    golden = read_record(GOLDEN)
    fresh = pipeline_output(1000, tmp_path, text_digest=True, validate_args=("--jobs", jobs), plans=False)
    assert fresh["validate"] == golden["validate"]
    assert fresh["validate_json"] == golden["validate_json"]
    batch = _Batch([tmp_path / "manifests"], Workspace(ConfigRepo(None)), ())
    split = shares(batch.files, batch.rules, int(jobs))
    # whole agencies, the largest first into the share with the fewest: 4 + 3 agencies, or 2 + 2 + 3
    expected = {"1": None, "2": [3 * 143, 3 * 143 + 142], "3": [2 * 143, 2 * 143, 2 * 143 + 142]}[jobs]
    assert (None if split is None else sorted(len(s) for s in split)) == expected
