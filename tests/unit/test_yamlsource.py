import time

import pytest

from govcloud.errors import InputError
from govcloud.load.yamlsource import MAX_FILE_BYTES, load_yaml_file, load_yaml_text


def problems_of(text: str, name="m.yaml"):
    with pytest.raises(InputError) as exc:
        load_yaml_text(text, name)
    return exc.value.problems


def test_plain_yaml_loads_with_types():
    doc = load_yaml_text("a: 1\nb: [x, true, null, 2.5]\nc: {d: '2024-01-01'}\ne: 2024-01-01\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", True, None, 2.5], "c": {"d": "2024-01-01"}, "e": "2024-01-01"}


def test_duplicate_key_is_an_error_with_both_lines():
    (p,) = problems_of("spec:\n  site: thr1\n  network: {}\n  site: isf1\n")
    assert p.location.line == 4 and p.location.column == 3
    assert p.path == "spec.site"
    assert "duplicate key 'site'" in p.message
    assert "line 2" in p.hint


def test_every_duplicate_is_reported_not_just_the_first():
    probs = problems_of("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [(p.path, p.location.line) for p in probs] == [("a", 2), ("b.c", 5)]


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo pwned']\n",
    "a: !!python/name:os.system\n",
    "a: !custom 5\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x: null}\n",
])
def test_unsafe_and_unknown_tags_are_refused(text):
    (p,) = problems_of(text)
    assert "is not allowed" in p.message and p.location.line == 1


def test_billion_laughs_is_refused_quickly():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i-1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    (p,) = problems_of(text)
    elapsed = time.perf_counter() - start
    assert "more than" in p.message and "alias" in p.message
    assert elapsed < 1.0


def test_recursive_alias_is_refused():
    (p,) = problems_of("a: &x [*x]\n")
    assert "deeper" in p.message or "too deeply" in p.message


def test_oversized_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    start = time.perf_counter()
    with pytest.raises(InputError) as exc:
        load_yaml_file(big)
    assert time.perf_counter() - start < 1.0
    (p,) = exc.value.problems
    assert f"{MAX_FILE_BYTES:,}" in p.message and p.location.file == str(big)


def test_syntax_error_points_at_line_and_column():
    (p,) = problems_of("a: 1\nb: [1, 2\nc: 3\n")
    assert p.location.line >= 2 and "invalid YAML" in p.message


def test_empty_and_multi_document_files():
    assert "empty" in problems_of("# just a comment\n")[0].message
    assert "invalid YAML" in problems_of("a: 1\n---\nb: 2\n")[0].message


def test_non_string_keys_are_refused():
    (p,) = problems_of("1: a\n")
    assert "keys must be plain strings" in p.message


def test_not_utf8(tmp_path):
    f = tmp_path / "latin.yaml"
    f.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(InputError) as exc:
        load_yaml_file(f)
    assert exc.value.problems[0].location.line == 2 and "UTF-8" in exc.value.problems[0].message


def test_merge_keys_and_anchors_work_within_limits():
    doc = load_yaml_text("base: &b {size: small, count: 1}\nweb:\n  <<: *b\n  count: 2\n", "f.yaml")
    assert doc.data["web"] == {"size": "small", "count": 2}


def test_locate_finds_values_keys_and_missing_fields():
    doc = load_yaml_text("spec:\n  servers:\n    - name: web\n      size: big\n", "f.yaml")
    assert (doc.locate(("spec", "servers", 0, "size")).line, doc.locate(("spec", "servers", 0, "size")).column) == (4, 13)
    assert doc.locate(("spec", "servers", 0, "size"), key=True).column == 7
    assert doc.locate(("spec", "servers", 0, "image")).line == 3  # missing: where it belongs


def test_every_kind_of_node_gets_the_tag_pyyamls_safe_loader_gives():
    """The loader resolves tags with shortcuts (plain scalars cached, quoted ones and collections directly):
    the values must be what yaml.safe_load makes of the same text."""
    import yaml

    text = ("plain: 12\nquoted: '12'\ndouble: \"true\"\nbool: yes\nnothing: ~\nfloat: 1.5e3\nempty:\n"
            "nonspecific: ! 12\nnonspecific_map: ! {a: 1}\nnonspecific_seq: ! [1, '2']\n"
            "flow: {a: [1, 'b', {c: null}]}\nblock:\n  - x: 1\n  - - 2\n    - '3'\n"
            "literal: |\n  12\nfolded: >\n  true\n")
    assert load_yaml_text(text, "t.yaml").data == yaml.safe_load(text)
