"""cloud-init user data from templates/cloud-init/<role>.yaml.j2.

Templates run in Jinja2's immutable sandbox with StrictUndefined: a typo in
a template is an error, not an empty string, and templates cannot reach
Python internals. Manifest values reach templates only as variables, which
Jinja2 never evaluates as template code; templates write them with the
`tojson` filter so that a value cannot break out of its YAML string either.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Callable

from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, SourceLocation, choices_hint


def _tojson(value: Any) -> str:
    # Plain JSON (a subset of YAML): Jinja2's own tojson escapes for HTML, which
    # cloud-config does not need, and mangles nothing but costs more.
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=16)
def template_environment(config: ConfigRepo):
    """One sandboxed environment per config repo (templates are compiled once)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader([str(d) for d in config.search_dirs("templates")]),
                                        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                        auto_reload=False)
    env.filters["tojson"] = _tojson
    return env


def available_roles(config: ConfigRepo) -> list[str]:
    roles: set[str] = set()
    for d in config.search_dirs("templates/cloud-init"):
        roles.update(p.name.removesuffix(".yaml.j2") for p in d.glob("*.yaml.j2"))
    return sorted(roles)


def render_user_data(config: ConfigRepo, role: str, context: dict[str, Any],
                     where: Callable[[], SourceLocation | None] = lambda: None, path: str = "") -> str:
    """Render the role's template; `where` locates the role field, called only on error."""
    from jinja2 import TemplateError, TemplateNotFound

    env = template_environment(config)
    name = f"cloud-init/{role}.yaml.j2"
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        roles = available_roles(config)
        raise InputError([Problem(f"no cloud-init template for role '{role}'", path, where(), code="reference",
                                  hint=choices_hint(role, roles))]) from None
    try:
        return template.render(**context)
    except TemplateError as exc:
        lineno = getattr(exc, "lineno", None)
        raise InputError([Problem(f"template {name} failed: {exc}", path, where(), code="template",
                                  hint=f"template line {lineno}" if lineno else None)]) from None
