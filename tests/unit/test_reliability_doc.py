"""docs/reliability.md is what benchmarks/reliability.py renders from the committed docs/reliability.json, and
the renderer shows each source's figures (or says how to get them)."""
from __future__ import annotations

import json

from benchmarks.reliability import DOC, FIGURES, faults_figures, generated_section, render, update_doc
from tests.audit_tampering import TAMPERINGS


def test_the_document_is_what_the_committed_figures_render_to():
    figures = json.loads(FIGURES.read_text(encoding="utf-8"))
    section = generated_section(DOC.read_text(encoding="utf-8"))
    assert section, "docs/reliability.md has no generated section"
    assert section == render(figures), "run `python benchmarks/reliability.py --render` (or collect again)"


def test_the_committed_audit_figures_are_the_suites_cases_all_detected():
    cases = json.loads(FIGURES.read_text(encoding="utf-8"))["audit"]["cases"]
    assert [c["tampering"] for c in cases] == [t.name for t in TAMPERINGS]
    assert [(c["kind"], c["line"]) for c in cases] == [(t.kind, t.line) for t in TAMPERINGS]
    assert all(c["detected"] for c in cases)


def test_a_source_that_never_ran_says_how_to_run_it():
    text = render({})
    for source in ("`benchmarks/fuzz.py`", "the fault-injection tests", "`pytest tests/e2e/test_isolation.py`",
                   "`pytest tests/e2e/test_secrets.py`"):
        assert f"No figures yet: run {source}" in text


def test_fault_figures_render_per_section_with_every_run():
    raw = {"schemaVersion": 1, "e2e": {
        "finished": "2026-12-01T21:05:31+00:00",
        "totals": {"faultsInjected": 8, "faultsByKind": {"429": 2, "503": 6}, "scenarios": 2, "scenariosOk": 1,
                   "killTrials": 20, "killTrialsOk": 20, "orphans": 0, "volumesLost": 0,
                   "followUpPreviews": 22, "emptyFollowUpPreviews": 21},
        "runs": [{"name": "Neutron 503", "kind": "scenario", "exit": 3, "plain_exit": 0, "ok": True, "seconds": 60,
                  "recovery_notes": ["not kept"]},
                 {"name": "kill at step 3", "kind": "kill", "exit": -9, "plain_exit": 3, "ok": False}]}}
    figures = faults_figures(raw)
    assert "recovery_notes" not in figures["e2e"]["runs"][0]  # one line per run, not every note
    text = render({"faults": figures})
    assert "| figure | e2e (2026-12-01) |" in text
    for row in ("| faults by kind | 429: 2, 503: 6 |", "| scenarios ok / run | 1 / 2 |",
                "| kill trials ok / run | 20 / 20 |", "| empty follow-up previews / previews | 21 / 22 |",
                "| duplicates | — |", "| Neutron 503 | scenario | 3 | 0 | yes |",
                "| kill at step 3 | kill | -9 | 3 | no |"):
        assert row in text, row


def test_update_replaces_only_the_generated_section():
    old = "# Title\n\nhand-written\n\n" + render({}) + "after\n"
    figures = {"secrets": {"date": "2026-12-01", "commands": 3, "markers": ["passphrase"], "places": 9,
                           "files": 5, "encodings": ["plain"], "found": [], "positiveControl": ["state"]}}
    new = update_doc(old, figures)
    assert new.startswith("# Title\n\nhand-written\n\n") and new.endswith("after\n")
    assert "3 govcloud commands run with markers in passphrase; 9 places scanned" in new
    assert "**0 found**" in new
