"""All 1,000 benchmark manifests: `govcloud validate DIR` (text and JSON), and every manifest's
ResourcePlan JSON and cost estimate, byte for byte as before the speed work of issue 16 (cd5b7f5).

No cloud needed; it is here because it takes about 10 s (tests/unit/test_pipeline_golden.py checks
the first 200 in the unit suite). The record holds the text output as a digest; tests/pipeline_output.py
says how it was made.

    .venv/bin/python -m pytest tests/e2e/test_pipeline_golden.py
"""
from __future__ import annotations

from pathlib import Path

from tests.pipeline_output import pipeline_output, read_record
from tests.unit.test_pipeline_golden import assert_same_output

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline" / "golden-1000.json.gz"


def test_validate_plan_and_cost_of_the_1000_benchmark_manifests_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    golden = read_record(GOLDEN)
    assert len(golden["plans_sha256"]) == 1000 and golden["validate"]["exit_code"] == 1
    assert golden["validate"]["stderr_lines"] == 2348  # 2,347 findings (benchmarks/README.md) and the summary
    assert_same_output(pipeline_output(1000, tmp_path, text_digest=True), golden)
