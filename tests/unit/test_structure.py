"""The package's shape: no import cycles, no private names used across modules, a README map that is true."""
import ast
import re
from pathlib import Path

from ..conftest import REPO

PACKAGE = REPO / "govcloud"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "_data" not in p.parts}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never executed)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _imports(module: str) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, imported govcloud module, names taken from it) of every executed import, top level or in a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node, a.name, []) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "") in MODULES:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.append((node, sub, []) if sub in MODULES else (node, node.module, [a.name]))
    return out


def import_graph() -> dict[str, set[str]]:
    return {m: {target for _, target, _ in _imports(m)} - {m} for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# Cycles known to remain (none now). The test fails on any other cycle, and when one of these is gone.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def test_no_import_cycles():
    found = set(cycles(import_graph()))
    assert found - KNOWN_CYCLES == set(), "import cycles (counting imports inside functions)"
    assert KNOWN_CYCLES - found == set(), "these cycles are gone: remove them from KNOWN_CYCLES"


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_used_across_modules():
    used = []
    for module in MODULES:
        imported_modules = {}
        for node, target, names in _imports(module):
            used += [f"{module} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
            if not names:  # a module: `import govcloud.x as m` / `from govcloud import x`
                for a in node.names:
                    imported_modules[a.asname or a.name.split(".")[-1]] = target
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in imported_modules and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                used.append(f"{module} uses {imported_modules[node.value.id]}.{node.attr}")
    assert used == []


# ---------------------------------------------------------------- README's map of the package


def readme_layout() -> dict[str, str]:
    """The rows of README's package table: `govcloud/name` -> what."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `govcloud/([^`]+)` \| (.+?) \|$", section, flags=re.M))


def package_parts() -> list[str]:
    """Every subpackage (`name/`) and top-level module (`name.py`) of govcloud/."""
    return sorted([p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()] +
                  [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"])


def test_readme_layout_lists_every_part_of_the_package():
    listed = readme_layout()
    assert sorted(listed) == package_parts(), "README.md's Layout table must list govcloud/'s parts, no others"
    assert all(what.strip() for what in listed.values())


# ---------------------------------------------------------------- scripts/measure_commands.py


def _measure():
    import importlib.util

    spec = importlib.util.spec_from_file_location("measure_commands", REPO / "scripts" / "measure_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_commands_counts_command_bodies(tmp_path):
    m = _measure()
    (tmp_path / "cmds.py").write_text(
        "import click\n\n\n@click.group()\ndef grp():\n    pass\n\n\n"
        "@grp.command('run')\n@click.option('--x')\ndef run(x):\n    \"\"\"Doc\n    string.\"\"\"\n"
        "    a = 1\n\n    # why\n    return a\n\n\n"
        "@click.command()\ndef other():\n    \"\"\"Only a docstring.\"\"\"\n\n\ndef helper():\n    return 1\n")
    assert m.commands(tmp_path) == [("cmds:run", 2), ("cmds:other", 0)]
    shipped = dict(m.commands())
    assert {"offline:validate", "stack:deploy", "usage:report"} <= set(shipped)
