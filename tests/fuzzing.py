"""Hostile mutations of the example manifests, and what must hold for each (the fuzz oracle).

Shared by the property-based unit test (tests/unit/test_hostile_input.py,
hypothesis drives the random choices) and the long run in benchmarks/fuzz.py
(a seeded random.Random per case), so both fuzz the same way.

A case starts from one of examples/*/*.yaml and applies one to four
mutations, structural (on the data: replace, delete, duplicate or rename a
key or list item, wrong types, hostile strings; then dumped back to YAML)
or textual and byte-wise (duplicate lines and blocks, explicit tags, huge
integers, control characters, anchors, flipped, inserted and deleted bytes,
truncation). The oracle runs what `govcloud validate` runs, in-process, and
asserts that no exception but the project's own InputError escapes, that
every invalid file has a located error, that a valid file has no error, and
that every printed message is free of terminal controls.
"""
from __future__ import annotations

import copy
import json
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*/*.yaml"))
SEEDS = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in EXAMPLES}

HOSTILE_STRINGS = [
    "", " ", "a" * 300, "../agencies", "../../inventories/agencies", "/etc/passwd", "web", "small", "xlarge",
    "ubuntu-22.04", "devcloud", "web-app", "\x1b[2J\x1b]0;title\x07", "\x1b]8;;http://evil.example\x1b\\link",
    "\x9b31m", "\u202egnp.exe", "line\nfile.yaml:1:1: error: forged", "\x00", "\ufeff", "10.0.0.0/8", "fd00::/64",
    "::/0", "127.0.0.0/24", "169.254.0.0/24", "0.0.0.0/16", "240.0.0.0/16", "10.42.0.0/33", "1e999",
    "a@" + "." * 3000 + "@", "https://" + "x" * 2000, "ssh-ed25519 " + "A" * 5000, "{{ 7 * 7 }}", "{% raw %}",
    "%s%n", "名前", "مدیریت", "NaN",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS, 0, -1, 1, 51, 65536, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, True, False, None, 1.5,
    float("inf"), float("nan"), [], {}, [1, 2], {"a": 1}, [[[]]], {"name": "x"}, [{"name": ["a"]}],
    {"name": {"a": 1}}, [{"name": "web"}, {"name": "web"}],
]
TAGS = ["!!int", "!!float", "!!bool", "!!null", "!!str", "!!binary", "!!timestamp", "!!set", "!!omap",
        "!!python/object/apply:os.system", "!custom", "!<tag:example.com,2000:x>", "!!merge", "!!seq", "!!map"]
HUGE_NUMBERS = ["9" * 4301, "9" * 20_000, "0x" + "f" * 5000, "-" + "9" * 4400, "1" + "0" * 30,
                "1_" * 3000 + "1", "190:20:30" * 50, "1e400", "0b" + "1" * 200, "9" * 19]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2028", "\ufffe", "\r",
           "\t"]


# ---------------------------------------------------------------------------------------------- structural
def _nodes(data: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) of the tree, the root included."""
    out = [(path, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, path + (i,))
    return out


def _parent(data: Any, path: tuple) -> tuple[Any, Any]:
    node = data
    for step in path[:-1]:
        node = node[step]
    return node, path[-1]


def _structural(data: Any, rng: random.Random) -> Any:
    nodes = _nodes(data)
    path, value = rng.choice(nodes)
    op = rng.randrange(8)
    if not path:  # the root: replace it, or mutate again deeper
        return rng.choice(HOSTILE_VALUES) if op == 0 else data
    parent, step = _parent(data, path)
    if op == 0:  # replace with a hostile value
        parent[step] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    elif op == 1:  # delete
        del parent[step]
    elif op == 2:  # duplicate a list item (same name) or grow a list a lot
        if isinstance(parent, list):
            parent.insert(step, copy.deepcopy(value))
        elif isinstance(value, list) and value and len(value) < 1000:
            value.extend(copy.deepcopy(value[-1]) for _ in range(rng.choice([1, 2, 60, 600])))
        else:
            parent[step] = [copy.deepcopy(value)] * rng.choice([2, 100])
    elif op == 3 and isinstance(parent, dict):  # rename a key (typo, hostile key, non-string key)
        new_key = rng.choice([str(step) + "x", str(step).upper(), "\x1b[31mred", "a\nb: c", 1, None, True, "",
                              "spec", "name"])
        parent[new_key] = parent.pop(step)
    elif op == 4:  # another part of the document in its place (wrong type, deep structure)
        parent[step] = copy.deepcopy(rng.choice(nodes)[1])
    elif op == 5 and isinstance(value, dict):  # an unknown field
        value[rng.choice(["extra", "naem", "countt", "\u202ekey", "x" * 200])] = rng.choice(HOSTILE_STRINGS)
    elif op == 6 and isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[step] = rng.choice([value * 1000, -value, value + 1, 0, 2 ** 64])
    else:  # a hostile string where a value was
        parent[step] = rng.choice(HOSTILE_STRINGS)
    return data


def structural(text: str, rng: random.Random) -> str:
    """Data-level mutations; a text an earlier mutation made unparsable (or huge, or deep) is left as it is."""
    if len(text) > 100_000:
        return text
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for _ in range(rng.randint(1, 3)):
            data = _structural(data, rng)
        return yaml.safe_dump(data, allow_unicode=rng.random() < 0.5, sort_keys=False,
                              width=rng.choice([80, 10_000]))
    except Exception:  # noqa: BLE001 - PyYAML's own constructors crash on some texts (`!!timestamp x`)
        return text


# ---------------------------------------------------------------------------------------------- textual
_VALUE = re.compile(r"(?m)(:[ ]+|- )(?=[^\s&*!|>#-])")


def _value_positions(text: str) -> list[int]:
    return [m.end() for m in _VALUE.finditer(text)]


MAX_CASE_BYTES = 2 << 20  # past the loader's 1 MiB limit, and no more (the fuzzer's own memory stays small)


def _times(piece: str, wanted: int) -> int:
    return max(1, min(wanted, MAX_CASE_BYTES // max(1, len(piece))))


def textual(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    op = rng.randrange(9)
    if op == 0 and lines:  # duplicate lines: duplicate keys and list items, at scale too
        i = rng.randrange(len(lines))
        times = _times(lines[i], rng.choice([1, 1, 2, 50, 10_000, 60_000]))
        return "".join(lines[:i] + [lines[i]] * (times + 1) + lines[i + 1:])
    if op == 1 and lines:  # duplicate a block
        i = rng.randrange(len(lines))
        j = min(len(lines), i + rng.randint(1, 8))
        times = _times("".join(lines[i:j]), rng.choice([1, 2, 500]))
        return "".join(lines[:j] + lines[i:j] * times + lines[j:])
    positions = _value_positions(text)
    if op == 2 and positions:  # an explicit tag before a value
        p = rng.choice(positions)
        return text[:p] + rng.choice(TAGS) + " " + text[p:]
    if op == 3 and positions:  # a huge number for a value
        p = rng.choice(positions)
        end = text.find("\n", p)
        end = len(text) if end < 0 else end
        stop = min(end, *(i for i in (text.find(",", p), text.find("}", p)) if i >= 0), end)
        return text[:p] + rng.choice(["", "!!int ", "!!float ", "!!str "]) + rng.choice(HUGE_NUMBERS) + text[stop:]
    if op == 4:  # a control character, raw or as a double-quoted escape
        p = rng.randrange(len(text) + 1)
        c = rng.choice(CONTROL)
        if rng.random() < 0.5 and positions:
            p = rng.choice(positions)
            return text[:p] + '"x' + c.encode("unicode_escape").decode("ascii") + 'y" #' + text[p:]
        return text[:p] + c + text[p:]
    if op == 5 and positions:  # anchors and aliases, a merge key
        p = rng.choice(positions)
        return text[:p] + "&a " + text[p:] + "\nextra: *a\n" + rng.choice(["", "<<: *a\n", "x: [*a, *a, *a]\n"])
    if op == 6:  # many disallowed tags
        return text + "junk:\n" + "".join(f"  - !bad {i}\n" for i in range(rng.choice([3, 20_000])))
    if op == 7:  # deep nesting
        depth = rng.choice([70, 500, 2000])
        return text + "deep: " + "[" * depth + "]" * depth + "\n"
    return text + rng.choice(["---\nb: 2\n", "\n...\n", "\n%YAML 1.1\n", "\n? [a, b]\n: c\n", "\n[1, 2]: x\n"])


def bytewise(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    op = rng.randrange(5)
    if op == 0 and data:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # insert bytes (invalid UTF-8 included)
        i = rng.randrange(len(data) + 1)
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == 2 and data:  # delete a range
        i = rng.randrange(len(data))
        del data[i:i + rng.randint(1, 40)]
    elif op == 3:  # truncate
        del data[rng.randrange(len(data) + 1):]
    else:  # a UTF-8 sequence of a hostile character
        i = rng.randrange(len(data) + 1)
        data[i:i] = rng.choice(CONTROL + ["\u202e", "\U0001F600", "\ud7ff"]).encode("utf-8", "surrogatepass")
    return bytes(data)


def benign(text: str, rng: random.Random) -> str:
    """A change that keeps a valid manifest valid (so that "valid -> no problem" is tested too)."""
    op = rng.randrange(4)
    if op == 0:  # comments and blank lines between the lines
        lines = text.splitlines(keepends=True)
        i = rng.randrange(len(lines) + 1)
        return "".join(lines[:i] + [rng.choice(["\n", "# a comment: with \x1b text\n", "   \n"])] + lines[i:])
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if op == 1:  # the same data in another style
        return yaml.safe_dump(data, default_flow_style=rng.choice([True, False, None]), allow_unicode=True,
                              sort_keys=rng.random() < 0.5, indent=rng.choice([2, 4]))
    mappings = [v for _, v in _nodes(data) if isinstance(v, dict) and v]
    if op == 2 and mappings:  # keys in another order
        m = rng.choice(mappings)
        items = list(m.items())
        rng.shuffle(items)
        m.clear()
        m.update(items)
    elif mappings:  # a string value quoted (same value)
        return re.sub(r"(?m)^(\s+name: )([a-z][a-z0-9-]*)$", lambda mo: f"{mo.group(1)}'{mo.group(2)}'", text,
                      count=1)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def mutate(seed_text: str, rng: random.Random) -> bytes:
    """One hostile variant of a manifest (1-4 mutations, mixed kinds), or, one case in eight, a benign one."""
    if rng.random() < 0.125:
        return benign(seed_text, rng).encode("utf-8")
    text = seed_text
    raw: bytes | None = None
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(10)
        if raw is None and kind < 4:
            text = structural(text, rng)
        elif raw is None and kind < 8:
            text = textual(text, rng)[:MAX_CASE_BYTES]
        else:
            raw = bytewise(raw if raw is not None else text.encode("utf-8"), rng)
    return raw if raw is not None else text.encode("utf-8")


# ---------------------------------------------------------------------------------------------- the oracle
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


@dataclass
class FuzzStats:
    cases: int = 0
    valid: int = 0
    invalid: int = 0
    slowest_s: float = 0.0
    slowest_case: str = ""
    crashes: list[str] = field(default_factory=list)

    def record(self, seconds: float, valid: bool, label: str) -> None:
        self.cases += 1
        self.valid += valid
        self.invalid += not valid
        if seconds > self.slowest_s:
            self.slowest_s, self.slowest_case = seconds, label


def companion_files(directory: Path) -> None:
    """Copy the files examples refer to by relative path (their OpenAPI documents) next to the fuzzed file,
    so that an unmutated example stays valid where the fuzzer writes it."""
    for extra in sorted((ROOT / "examples").glob("*/*.openapi.json")):
        (directory / extra.name).write_bytes(extra.read_bytes())


def check_case(raw: bytes, path: Path, workspace, stats: FuzzStats | None = None, label: str = "") -> bool:
    """Write `raw` to `path`, check it as `govcloud validate` does; AssertionError if a promise breaks.

    Returns whether the file was valid. Any exception other than InputError
    propagates (that is a crash).
    """
    from govcloud.errors import InputError
    from govcloud.check import check_paths

    path.write_bytes(raw)
    start = time.perf_counter()
    try:
        (result,), _report = check_paths([path], workspace)
        problems, ok = result.problems, result.ok
    except InputError as exc:  # raised (not returned) only for configuration files; a manifest's are returned
        problems, ok = exc.problems, False
    elapsed = time.perf_counter() - start
    errors = [p for p in problems if p.severity == "error"]
    if ok:
        assert not errors, f"a valid file has errors: {[p.format() for p in errors]}"
    else:
        assert errors, "an invalid file has no error"
        for p in errors:
            assert p.location is not None and p.location.line >= 1 and p.location.column >= 1, p.format()
            # in the manifest, or in the blueprint that wrote the merged value
            assert p.location.file == str(path) or Path(p.location.file).parent.name == "stacks", p.format()
    for p in problems:
        line = p.format()
        assert not _INVISIBLE.search(line), f"raw control character in {line!r}"
        assert not _INVISIBLE.search(json.dumps(p.to_dict(), ensure_ascii=False)), line
    if stats is not None:
        stats.record(elapsed, ok, label)
    return ok


# ---------------------------------------------------------------------------------------------- adversarial corpus
def adversarial_corpus() -> list[tuple[str, bytes]]:
    """The hand-made hostile files of issue 15 (one of each class), for the refusal timings in benchmarks/fuzz.py."""
    base = SEEDS["examples/devcloud/citizen-portal.yaml"]
    blueprinted = SEEDS["examples/moh/patient-portal.yaml"]
    servers = "".join(f"    - {{name: s{i}, size: small, image: ubuntu-22.04, count: 50}}\n" for i in range(9000))
    cases = {
        "200,000 duplicate keys (1 MB)": "a: 1\n" * 200_000,
        "10,000 duplicate keys in a manifest": base + "".join(f"  labels: {i}\n" for i in range(10_000)),
        "20,000 disallowed tags": "x:\n" + "".join(f"  - !bad {i}\n" for i in range(20_000)),
        "9,000 servers of count 50 (584 KB)": base.replace("  buckets:", servers + "  buckets:"),
        "integer of 5,000 digits": base.replace("count: 2", "count: " + "9" * 5000),
        "hex integer of 5,000 digits in apiVersion": base.replace("apiVersion: govcloud/v1",
                                                                  "apiVersion: 0x" + "f" * 5000),
        "!!int abc": base.replace("count: 2", "count: !!int abc"),
        "!!bool maybe": base.replace("publicIp: true", "publicIp: !!bool maybe"),
        "blueprint item named by a list": blueprinted.replace("    - name: web\n", "    - name: [a, b]\n"),
        "site name of 300 characters": base.replace("site: devcloud", "site: " + "a" * 300),
        "site ../agencies": base.replace("site: devcloud", "site: ../agencies"),
        "escape sequences in a value": base.replace("size: small", 'size: "\\e[2J\\e]0;x\\a\\x9b\\u202e"'),
        "raw control character": base.replace("size: small", "size: sm\x01all"),
        "owner of 1 MB of dots (regex backtracking)": base.replace(
            "owner: infra@moe.gov.example", "owner: \"a@" + "." * 1_000_000 + "@\""),
        "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi")),
        "unknown keys, 50,000": base + "".join(f"k{i}: 1\n" for i in range(50_000)),
        "nesting 999 deep": "x: " + "[" * 999 + "]" * 999 + "\n",
    }
    return [(name, text.encode("utf-8")) for name, text in cases.items()]
