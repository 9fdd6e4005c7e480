"""The offline pipeline prints exactly what it printed before the speed work of issue 16.

`govcloud validate DIR` (text and JSON), and the compiled ResourcePlan JSON and cost estimate of
every manifest, for the first 200 of the benchmark's 1,000 generated manifests (a subset, so that
the unit suite stays fast: about 1-2 s; tests/e2e/test_pipeline_golden.py checks all 1,000),
against the record made by the code before the change (cd5b7f5; tests/pipeline_output.py says
how). The cross-manifest rules (quotas, overlapping networks) see the same 200 in both runs.
Any changed byte fails: a finding's text, order or location, a plan input, a cost line.
"""
from __future__ import annotations

from pathlib import Path

from tests.pipeline_output import pipeline_output, read_record

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline"


def assert_same_output(fresh: dict, golden: dict) -> None:
    assert fresh["count"] == golden["count"]
    assert fresh["validate"] == golden["validate"]  # exit code and every line printed (or their digest)
    assert fresh["validate_json"] == golden["validate_json"]
    for key in ("plans_sha256", "costs_sha256"):
        changed = sorted(f for f in golden[key] if fresh[key].get(f) != golden[key][f])
        assert not changed, f"{key}: {len(changed)} files differ from before, e.g. {changed[:5]}"
        assert sorted(fresh[key]) == sorted(golden[key])


def test_validate_plan_and_cost_of_200_benchmark_manifests_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    golden = read_record(GOLDEN / "golden-200.json.gz")
    # the record is what it should be: 200 plans, exit 1 (most generated manifests break some rule), and the
    # text run's last lines are the summary the command prints
    assert len(golden["plans_sha256"]) == 200 and golden["validate"]["exit_code"] == 1
    assert golden["validate"]["stdout"] == "200 manifests checked: 49 valid, 151 invalid\n"
    assert golden["validate"]["stderr"].endswith("error: 151 of 200 manifests invalid\n")
    assert_same_output(pipeline_output(200, tmp_path), golden)


def test_one_changed_byte_of_user_data_changes_the_record(tmp_path, monkeypatch):
    """The record is not blind: one more byte in every rendered user data changes every plan's digest
    (and nothing that validate prints, which does not show user data)."""
    import jinja2.environment

    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    plain = pipeline_output(20, tmp_path / "plain")
    render = jinja2.environment.Template.render
    monkeypatch.setattr(jinja2.environment.Template, "render", lambda self, *a, **kw: render(self, *a, **kw) + "#")
    changed = pipeline_output(20, tmp_path / "changed")
    assert changed["validate"] == plain["validate"] and changed["costs_sha256"] == plain["costs_sha256"]
    assert len(plain["plans_sha256"]) == 20
    assert all(changed["plans_sha256"][f] != plain["plans_sha256"][f] for f in plain["plans_sha256"])
