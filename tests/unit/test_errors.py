"""The one "unknown X (did you mean ...)" problem every stage reports a misspelt name with."""
from govcloud.errors import SourceLocation, choices_hint, unknown_name


def test_unknown_name_suggests_the_closest_and_lists_the_choices():
    p = unknown_name("site", "thr9", ["thr1", "isf1", "devcloud"], "spec.site", SourceLocation("m.yaml", 12, 9))
    assert p.format() == ("m.yaml:12:9: error: spec.site: unknown site 'thr9' "
                          "(did you mean 'thr1'?; one of: devcloud, isf1, thr1)")
    assert p.code == "reference"


def test_unknown_name_without_a_close_match_or_any_choice():
    assert choices_hint("zzz", ["thr1", "isf1"]) == "one of: isf1, thr1"
    assert choices_hint("zzz", []) == "none are defined"
    p = unknown_name("rule", "GC099", (), where=" in settings.rules", code="policy-config")
    assert (p.message, p.code, p.hint) == ("unknown rule 'GC099' in settings.rules", "policy-config",
                                           "none are defined")


def test_a_huge_name_is_shortened_in_the_message():
    p = unknown_name("agency", "x" * 5000, ["moh"])
    assert len(p.message) < 200 and "5,000 characters" in p.message
