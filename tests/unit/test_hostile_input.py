"""Hostile input: every class found when govcloud was tried as an attacker would (issue 15).

Each test runs the real CLI as a child process (`python -m govcloud validate`)
where the whole process matters (a traceback, a hang, memory, bytes reaching
the terminal), and asserts exit code 1, the file:line:column and field of the
refusal, no traceback, and that nothing was written. The last test fuzzes
every example manifest with hypothesis (tests/fuzzing.py holds the mutations
and the oracle, shared with benchmarks/fuzz.py).
"""
from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from govcloud.check import Workspace, manifest_files
from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, SourceLocation
from govcloud.load.blueprints import Blueprints
from govcloud.load.inventory import Inventory

from ..conftest import REPO, VALID
from ..fuzzing import SEEDS, FuzzStats, check_case, companion_files, mutate

MANIFEST = textwrap.dedent(VALID).lstrip("\n")  # line 11: "  site: thr1", line 17: "    - name: web"
BLUEPRINTED = MANIFEST.replace("spec:\n", "spec:\n  blueprint: web-app\n")  # every spec line one lower


def _limit_memory() -> None:  # a regression must fail the test, not take the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def validate(tmp_path: Path, *paths, fmt: str = "text") -> subprocess.CompletedProcess:
    """Run `govcloud validate` in a clean child process; assert it wrote nothing anywhere under tmp_path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"), PYTHONPATH=str(REPO))
    before = _tree(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "govcloud", "validate", "--format", fmt, *map(str, paths)],
                          capture_output=True, cwd=tmp_path, env=env, timeout=120, preexec_fn=_limit_memory)
    assert _tree(tmp_path) == before, "validate wrote or changed files"
    assert b"Traceback" not in proc.stderr + proc.stdout, proc.stderr.decode(errors="replace")[-3000:]
    return proc


def _tree(root: Path) -> dict[str, int]:
    """Every path under root with its mtime (own stack: os.walk recurses, and one tree is 1,100 deep)."""
    out, pending = {}, [str(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for e in entries:
                out[e.path] = e.stat(follow_symlinks=False).st_mtime_ns
                if e.is_dir(follow_symlinks=False):
                    pending.append(e.path)
    return out


def refused(proc: subprocess.CompletedProcess, *lines: str) -> str:
    """Exit code 1 and each expected `file:line:col: error: field: message` line on stderr."""
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 1, err
    for line in lines:
        assert line in err, f"{line!r} not in:\n{err[:3000]}"
    return err


# ------------------------------------------------------------------------------ uncaught exceptions
def test_blueprint_merge_of_an_item_whose_name_is_a_list_or_a_mapping(tmp_path):
    as_list = tmp_path / "list.yaml"
    as_list.write_text(BLUEPRINTED.replace("    - name: web\n", "    - name: [web, db]\n"))
    as_map = tmp_path / "map.yaml"
    as_map.write_text(BLUEPRINTED.replace("    - name: web\n", "    - name: {web: 1}\n"))
    refused(validate(tmp_path, as_list, as_map),
            f"{as_list}:18:13: error: spec.servers[0].name: must be a string, got a list",
            f"{as_map}:18:13: error: spec.servers[0].name: must be a string, got a mapping")


@pytest.mark.parametrize("tagged, expected", [
    ("count: !!int abc", "spec.servers[0].count: 'abc' is not a valid int"),
    ("count: !!int ''", "spec.servers[0].count: '' is not a valid int"),
    ("count: !!float abc", "spec.servers[0].count: 'abc' is not a valid float"),
    ("count: !!null 2", "spec.servers[0].count: '2' is not a valid null"),
])
def test_explicit_tags_on_values_they_cannot_build(tmp_path, tagged, expected):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST.replace("count: 2", tagged))
    refused(validate(tmp_path, f), f"{f}:20:14: error: {expected}")


def test_bool_tag_on_a_word_that_is_no_boolean(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST.replace("publicIp: true", "publicIp: !!bool maybe"))
    refused(validate(tmp_path, f), f"{f}:22:17: error: spec.servers[0].publicIp: 'maybe' is not a valid bool")


def test_integers_of_more_than_4300_digits_in_the_loader_and_in_messages(tmp_path):
    decimal = tmp_path / "decimal.yaml"
    decimal.write_text(MANIFEST.replace("count: 2", "count: " + "9" * 5000))
    # hexadecimal has no conversion limit: before, it loaded and crashed when the message printed it
    hexadecimal = tmp_path / "hex.yaml"
    hexadecimal.write_text(MANIFEST.replace("apiVersion: govcloud/v1", "apiVersion: 0x" + "f" * 5000))
    beyond_64_bits = tmp_path / "big.yaml"
    beyond_64_bits.write_text(MANIFEST.replace("count: 2", "count: 9223372036854775808"))
    err = refused(validate(tmp_path, decimal, hexadecimal, beyond_64_bits),
                  f"{decimal}:20:14: error: spec.servers[0].count: number is too long (5,000 characters)",
                  f"{hexadecimal}:1:13: error: apiVersion: number is too long (5,002 characters)",
                  f"{beyond_64_bits}:20:14: error: spec.servers[0].count: integer is out of range")
    assert "9" * 100 not in err and "f" * 100 not in err  # the value is not echoed


def test_site_and_blueprint_names_over_255_characters(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(MANIFEST.replace("site: thr1", "site: " + "a" * 300))
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text(BLUEPRINTED.replace("blueprint: web-app", "blueprint: " + "a" * 300))
    refused(validate(tmp_path, site, blueprint),
            f"{site}:11:9: error: spec.site: string should have at most 63 characters",
            f"{blueprint}:11:14: error: spec.blueprint: blueprint must be a DNS label")


@pytest.fixture
def deep_tree(tmp_path):
    """tmp_path/tree/d/d/.../d, 1,100 levels; removed bottom-up here (pytest's rmtree would recurse)."""
    dirs = [tmp_path / "tree"]
    dirs[0].mkdir()
    for _ in range(1100):
        dirs.append(dirs[-1] / "d")
        dirs[-1].mkdir()
    yield dirs[0], dirs[-1]
    for d in reversed(dirs):
        for f in d.iterdir():
            if not f.is_dir():
                f.unlink()
        d.rmdir()


def test_validate_a_directory_tree_1100_levels_deep(tmp_path, deep_tree):
    top, bottom = deep_tree
    (bottom / "good.yaml").write_text(MANIFEST)
    bad = bottom / "bad.yaml"
    bad.write_text(MANIFEST.replace("sizeGb: 50", "sizeGb: lots"))
    proc = validate(tmp_path, top)
    refused(proc, f"{bad}:24:32: error: spec.servers[0].volumes[0].sizeGb: must be a whole number, got a string")
    assert b"2 manifests checked: 1 valid, 1 invalid" in proc.stdout
    assert sorted(p.name for p in manifest_files([top])) == ["bad.yaml", "good.yaml"]


# ------------------------------------------------------------------------------ resource exhaustion
def test_devices_fifos_and_symlinks_to_them_are_not_read(tmp_path):
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # nobody writes: reading it would block for ever
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # sparse: 2 MiB that cost nothing
        fh.truncate(2 << 20)
    refused(validate(tmp_path, "/dev/zero", "/dev/urandom", fifo, big),
            "/dev/zero:1:1: error: not a regular file: it is a device",
            "/dev/urandom:1:1: error: not a regular file: it is a device",
            f"{fifo}:1:1: error: not a regular file: it is a FIFO",
            f"{big}:1:1: error: file is 2,097,152 bytes; the limit is 1,048,576 bytes")
    # alone: next to /dev/zero it would be skipped as the same file
    refused(validate(tmp_path, link), f"{link}:1:1: error: not a regular file: it is a device")


# ------------------------------------------------------------------------------ quadratic time, limits before work
def test_duplicate_keys_and_bad_tags_by_the_ten_thousand_get_a_bounded_report(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("a: 1\n" * 200_000)  # 1,000,000 bytes, under the size limit: stopped while composing
    dups = tmp_path / "dups.yaml"
    dups.write_text("a: 1\n" * 40_000)
    tags = tmp_path / "tags.yaml"
    tags.write_text("x:\n" + "".join(f"  - !bad {i}\n" for i in range(20_000)))
    err = refused(validate(tmp_path, huge, dups, tags),
                  f"{huge}:1:1: error: the file holds more than 100,000 keys and values",
                  f"{dups}:2:1: error: a: duplicate key 'a' (first defined at line 1)",
                  f"{dups}:51:1: error: a: duplicate key 'a'",
                  f"{dups}:1:1: error: 39,949 more problems not shown (only the first 50 are reported",
                  f"{tags}:2:5: error: x[0]: tag '!bad' is not allowed",
                  f"{tags}:1:1: error: 19,950 more problems not shown")
    assert f"{dups}:52:1:" not in err and f"{tags}:52:5:" not in err
    assert err.count("\n") == 1 + 51 + 51 + 1  # the summary line last


def test_9000_servers_of_count_50_are_refused_before_anything_is_compiled(tmp_path):
    entries = "".join(f"    - {{name: s{i}, size: small, image: ubuntu-22.04, count: 50}}\n" for i in range(9000))
    many = tmp_path / "many.yaml"
    many.write_text(MANIFEST.replace("  buckets:\n", entries + "  buckets:\n"))
    assert many.stat().st_size > 500_000
    eleven = "".join(f"    - {{name: s{i}, size: small, image: ubuntu-22.04, count: 50}}\n" for i in range(10))
    over_total = tmp_path / "total.yaml"  # 10 x 50 + the 2 web servers: 502 instances
    over_total.write_text(MANIFEST.replace("  buckets:\n", eleven + "  buckets:\n"))
    refused(validate(tmp_path, many, over_total),
            f"{many}:17:5: error: spec.servers: list should have at most 50 items after validation, not 9001",
            f"{over_total}:17:5: error: spec.servers: the counts add up to 502 servers; "
            "a manifest may have at most 500")
    # the refusal is the schema's (Workspace.check), which runs before compile, cost and policy
    with pytest.raises(InputError):
        Workspace(ConfigRepo(None)).check(many)


# ------------------------------------------------------------------------------ silent data loss in the merge
def test_duplicate_server_names_are_an_error_with_a_blueprint_as_without(tmp_path):
    extra = "    - {name: web, size: xlarge, image: ubuntu-22.04, count: 20}\n  buckets:\n"
    with_bp = tmp_path / "bp.yaml"
    with_bp.write_text(BLUEPRINTED.replace("  buckets:\n", extra))
    without = tmp_path / "plain.yaml"
    without.write_text(MANIFEST.replace("  buckets:\n", extra))
    refused(validate(tmp_path, with_bp, without),
            f"{with_bp}:18:5: error: spec.servers: server name 'web' is used twice (items 0 and 1)",
            f"{without}:17:5: error: spec.servers: server name 'web' is used twice (items 0 and 1)")


# ------------------------------------------------------------------------------ terminal and log injection
EVIL = "\x1b[2J\x1b]0;owned\x07\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\x9b31m\u202etxt.exe"


def test_controls_in_values_keys_and_file_names_are_escaped_in_text_and_json(tmp_path):
    value = "size: \"" + EVIL.encode("unicode_escape").decode("ascii").replace('"', '\\"') + "\""
    evil_name = tmp_path / "ev\x1b[31mil\u202e.yaml"
    evil_name.write_text(MANIFEST.replace("size: medium", value))
    evil_key = tmp_path / "key.yaml"
    evil_key.write_text(MANIFEST.replace("  classification: internal\n",
                                         "  classification: internal\n  \"x\\nforged.yaml:1:1: error: all good\": 1\n"))
    err = refused(validate(tmp_path, evil_name, evil_key))
    for raw in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert raw not in err
    name = str(evil_name).replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    assert (f"{name}:18:13: error: spec.servers[0].size: unknown size '\\x1b[2J\\x1b]0;owned\\x07\\x1b]8;;"
            "http://evil.example\\x1b\\click\\x1b]8;;\\x1b\\\\x9b31m\\u202etxt.exe' at site thr1") in err
    assert f"{evil_key}:10:3: error: metadata.x\\x0aforged.yaml:1:1: error: all good: unknown field" in err
    assert not any(line.startswith("forged.yaml") for line in err.split("\n")), err  # no forged line

    out = validate(tmp_path, evil_name, fmt="json").stdout.decode("utf-8")
    for raw in ("\x9b", "\u202e", "\x1b", "\x07"):
        assert raw not in out
    problems = json.loads(out)["files"][0]["problems"]
    assert {p["message"] for p in problems} >= {
        "unknown size '\\x1b[2J\\x1b]0;owned\\x07\\x1b]8;;http://evil.example\\x1b\\click\\x1b]8;;\\x1b\\"
        "\\x9b31m\\u202etxt.exe' at site thr1"}
    assert all(p["file"] == name for p in problems)


def test_every_part_of_a_problem_is_escaped_in_one_place():
    p = Problem("bad '\x1b[2J'", "spec.\u202e", SourceLocation("f\n.yaml", 3, 4), hint="try \x9b")
    assert p.format() == "f\\x0a.yaml:3:4: error: spec.\\u202e: bad '\\x1b[2J' (try \\x9b)"
    d = p.to_dict()
    assert (d["file"], d["path"], d["message"], d["hint"]) == ("f\\x0a.yaml", "spec.\\u202e", "bad '\\x1b[2J'",
                                                               "try \\x9b")
    assert Problem("plain: 'web' in 10.0.0.0/8 (ok)").format() == "<input>: error: plain: 'web' in 10.0.0.0/8 (ok)"


# ------------------------------------------------------------------------------ path traversal
@pytest.mark.parametrize("name", ["../agencies", "/etc/passwd", "../../inventories/agencies"])
def test_site_and_blueprint_are_checked_as_names_before_they_become_paths(tmp_path, name):
    site = tmp_path / "site.yaml"
    site.write_text(MANIFEST.replace("site: thr1", f"site: {name}"))
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text(BLUEPRINTED.replace("blueprint: web-app", f"blueprint: {name}"))
    err = refused(validate(tmp_path, site, blueprint),
                  f"{site}:11:9: error: spec.site: must be a DNS label",
                  f"{blueprint}:11:14: error: spec.blueprint: blueprint must be a DNS label")
    assert "agencies.yaml" not in err and "unknown field" not in err  # no other file was read
    config = ConfigRepo(None)
    assert Inventory(config).site(name) is None
    with pytest.raises(InputError, match="must be a DNS label"):
        Blueprints(config).load(name)


# ------------------------------------------------------------------------------ control characters
def test_a_control_character_is_reported_at_its_line_and_column(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST.replace("image: ubuntu-22.04", "image: ubuntu\x01-22.04"))
    err = refused(validate(tmp_path, f), f"{f}:19:20: error: control character U+0001 is not allowed in YAML")
    assert "position" not in err and "unicode string" not in err


# ------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("cidr, message", [
    ("fd00:42::/64", "must be an IPv4 network such as 10.42.0.0/24"),
    ("127.0.0.0/24", "must be a private range"),
    ("169.254.0.0/24", "must be a private range"),
    ("0.0.0.0/16", "must be a private range"),
    ("240.0.0.0/16", "must be a private range"),
    ("198.18.0.0/16", "must be a private range"),
])
def test_ipv6_loopback_link_local_and_reserved_subnets_are_refused(tmp_path, cidr, message):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST.replace("cidr: 10.42.0.0/24", f"cidr: {cidr}"))
    refused(validate(tmp_path, f), f"{f}:13:11: error: spec.network.cidr: {message}")


def test_rfc1918_subnets_compile_to_ipv4_subnets(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(MANIFEST.replace("cidr: 10.42.0.0/24", "cidr: 172.16.5.0/24"))
    plan = Workspace(ConfigRepo(None)).plan(f)
    subnet = next(r for r in plan.resources if r.kind == "Subnet")
    assert (subnet.inputs["cidr"], subnet.inputs["ip_version"]) == ("172.16.5.0/24", 4)


# ------------------------------------------------------------------------------ the fuzz test
FUZZ_CASES = 600


def test_fuzzed_examples_give_located_errors_or_pass(tmp_path, record_property):
    """Mutated examples (structural, textual, byte-wise): only located InputErrors, valid ones clean.

    Per-case time is recorded (record_property), never asserted; the long run
    with its figures is benchmarks/fuzz.py.
    """
    workspace = Workspace(ConfigRepo(None))
    path = tmp_path / "fuzzed.yaml"
    companion_files(tmp_path)
    stats = FuzzStats()
    names = sorted(SEEDS)

    @settings(max_examples=FUZZ_CASES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(name=st.sampled_from(names), rng=st.randoms(use_true_random=False))
    def case(name: str, rng: random.Random) -> None:
        check_case(mutate(SEEDS[name], rng), path, workspace, stats, name)

    case()
    for name in names:  # and every example unmutated is valid
        assert check_case(SEEDS[name].encode("utf-8"), path, workspace, stats, name), name
    record_property("fuzz_cases", stats.cases)
    record_property("fuzz_slowest_s", round(stats.slowest_s, 3))
    assert stats.cases >= FUZZ_CASES and stats.invalid > 0 and stats.valid > len(names)


def test_error_messages_of_every_kind_are_escaped_line_by_line():
    """Not only located problems: any GovcloudError's text (it may quote a name from input) reaches the terminal
    escaped, its lines kept (engine failures are several lines)."""
    import click
    from click.testing import CliRunner

    from govcloud.cli import GovcloudGroup
    from govcloud.errors import GovcloudError

    @click.group(cls=GovcloudGroup)
    def group():
        pass

    @group.command()
    def boom():
        raise GovcloudError("stack \x1b]0;owned\x07x failed:\n  \u202eevil\x9b2J")

    res = CliRunner().invoke(group, ["boom"])
    assert res.exit_code == 1
    assert res.output == "error: stack \\x1b]0;owned\\x07x failed:\n  \\u202eevil\\x9b2J\n"
