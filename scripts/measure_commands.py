#!/usr/bin/env python3
"""How thin the CLI is and how big the modules are: the numbers issue #11 asks for.

    .venv/bin/python scripts/measure_commands.py [--all]

A command is a function decorated with `@<group>.command(...)` in govcloud/cli/*.py. Its body is counted
from the first statement after the docstring to its last line, without blank and comment-only lines
(sqlite-utils' commands, the model, have a median of 13). Then every module of the package over 500
lines. Reads the source only (AST): nothing is imported.
"""
from __future__ import annotations

import argparse
import ast
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "govcloud"
MODULE_LIMIT = 500


def _is_command(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "command"


def body_lines(fn: ast.FunctionDef, source_lines: list[str]) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    lines = source_lines[body[0].lineno - 1:fn.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def commands(cli_dir: Path = PACKAGE / "cli") -> list[tuple[str, int]]:
    """(module:function, body lines) of every Click command."""
    out = []
    for path in sorted(cli_dir.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and any(_is_command(d) for d in node.decorator_list):
                out.append((f"{path.stem}:{node.name}", body_lines(node, lines)))
    return out


def large_modules(limit: int = MODULE_LIMIT) -> list[tuple[str, int]]:
    sizes = [(p.relative_to(REPO).as_posix(), len(p.read_text(encoding="utf-8").splitlines()))
             for p in sorted(PACKAGE.rglob("*.py")) if "_data" not in p.parts]
    return sorted(((p, n) for p, n in sizes if n > limit), key=lambda x: -x[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="list every command, not only those over 20 lines")
    args = ap.parse_args(argv)
    cmds = commands()
    if not cmds:
        print("no Click commands found in govcloud/cli/", file=sys.stderr)
        return 1
    sizes = [n for _, n in cmds]
    name, longest = max(cmds, key=lambda c: c[1])
    print(f"commands: {len(cmds)}; body lines: median {statistics.median(sizes):g}, longest {longest} ({name})")
    for cmd, n in sorted(cmds, key=lambda c: -c[1]):
        if args.all or n > 20:
            print(f"  {n:4d}  {cmd}")
    big = large_modules()
    print(f"modules over {MODULE_LIMIT} lines: {len(big)}")
    for path, n in big:
        print(f"  {n:5d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
