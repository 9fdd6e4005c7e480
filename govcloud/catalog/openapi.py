"""OpenAPI 3 documents of published endpoints: found, checked, summarised.

A manifest's `publish.endpoints[].openapi` names a file of the config repo,
relative to the manifest. It is read with govcloud's safe YAML loader (JSON
is YAML too), so every problem has a file:line:column: a document that is
not OpenAPI 3 is reported at the place openapi-spec-validator points at.
References must stay inside the document (`#/...`): the validator would
otherwise fetch files or URLs named by the document. The catalog publishes
the document next to the service's page and renders its operations.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from govcloud.errors import InputError, Problem, SourceLocation, format_path

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_ERRORS = 20


@dataclass(frozen=True)
class Operation:
    method: str  # GET, POST, ...
    path: str
    summary: str
    operation_id: str


@dataclass(frozen=True)
class OpenApiDocument:
    file: Path
    data: Any  # the document as plain data (written out as JSON next to the catalog entry)
    openapi: str  # 3.0.3, 3.1.0
    title: str
    version: str
    operations: tuple[Operation, ...]


def resolve_document(manifest_file: str, ref: str, config_root: Path | None) -> Path:
    """The file `ref` names, relative to the manifest; ValueError when it leaves the config repo."""
    if os.path.isabs(ref):
        raise ValueError("must be a path relative to the manifest, inside the config repo")
    base = Path(manifest_file).resolve().parent
    path = (base / ref).resolve()
    fence = config_root.resolve() if config_root is not None else base
    if not path.is_relative_to(fence):
        raise ValueError(f"must stay inside the config repo ({fence})")
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


def load_openapi(path: Path) -> OpenApiDocument:
    """Read and validate one OpenAPI 3 document (cached per file and modification time)."""
    return _load(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load(path: str, _mtime: int) -> OpenApiDocument:
    from govcloud.load.yamlsource import load_yaml_file

    doc = load_yaml_file(path)
    data = doc.data

    def problem(message: str, at: tuple = (), hint: str | None = None) -> Problem:
        return Problem(message, format_path(at), doc.locate(at), code="openapi", hint=hint)

    if not isinstance(data, dict):
        raise InputError([problem("an OpenAPI document must be a mapping with openapi, info and paths")])
    version = data.get("openapi")
    if not (isinstance(version, str) and version.startswith("3.")):
        what = "a Swagger 2.0 document" if "swagger" in data else f"openapi: {version!r}"
        raise InputError([problem(f"not an OpenAPI 3 document ({what})", ("openapi",) if "openapi" in data else (),
                                  hint="openapi: 3.0.3 or 3.1.0 at the top of the document")])
    outside = [problem(f"reference {ref!r} leaves the document", at, hint="only local references (#/...) are "
                       "allowed: put the schemas under components") for at, ref in _refs(data)
               if not ref.startswith("#")]
    if outside:
        raise InputError(outside)
    errors = _spec_errors(data)
    if errors:
        raise InputError([problem(message, at) for at, message in errors])
    info = data.get("info") or {}
    return OpenApiDocument(Path(path), data, version, str(info.get("title", "")), str(info.get("version", "")),
                           tuple(_operations(data)))


def _spec_errors(data: dict) -> list[tuple[tuple, str]]:
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    cls = OpenAPIV30SpecValidator if data["openapi"].startswith("3.0") else OpenAPIV31SpecValidator
    out = []
    for err in cls(data).iter_errors():
        out.append((tuple(err.absolute_path), _short(err.message)))
        if len(out) >= MAX_ERRORS:
            break
    out.sort(key=lambda e: len(e[0]))
    return out


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit - 1] + "…"


def _refs(node: Any, at: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield at + (k,), v
            else:
                yield from _refs(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _refs(v, at + (i,))


def _operations(data: dict) -> Iterator[Operation]:
    for path, item in sorted((data.get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                yield Operation(method.upper(), str(path), str(op.get("summary") or op.get("description") or ""),
                                str(op.get("operationId") or ""))


def check_endpoint_documents(endpoints, manifest_file: str, config_root: Path | None,
                             locate: Callable[..., SourceLocation]) -> dict[str, OpenApiDocument]:
    """Load every endpoint's OpenAPI document: {endpoint name: document}, or InputError with every problem."""
    found: dict[str, OpenApiDocument] = {}
    problems: list[Problem] = []
    for i, ep in enumerate(endpoints):
        if ep.openapi is None:
            continue
        at = ("spec", "publish", "endpoints", i, "openapi")
        try:
            path = resolve_document(manifest_file, ep.openapi, config_root)
        except ValueError as exc:
            problems.append(Problem(f"OpenAPI document '{ep.openapi}' {exc}", format_path(at), locate(at),
                                    code="reference"))
            continue
        try:
            found[ep.name] = load_openapi(path)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return found
