"""cloud-init user data from templates/cloud-init/<role>.yaml.j2.

Templates come from the config repo's sandboxed environment (govcloud/templates.py):
a typo in a template is an error, not an empty string; manifest values reach
templates only as variables, written with the `tojson` filter so that a value
cannot break out of its YAML string.
"""
from __future__ import annotations

from typing import Any, Callable

from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, SourceLocation, choices_hint


def available_roles(config: ConfigRepo) -> list[str]:
    roles: set[str] = set()
    for d in config.search_dirs("templates/cloud-init"):
        roles.update(p.name.removesuffix(".yaml.j2") for p in d.glob("*.yaml.j2"))
    return sorted(roles)


def render_user_data(config: ConfigRepo, role: str, context: dict[str, Any],
                     where: Callable[[], SourceLocation | None] = lambda: None, path: str = "") -> str:
    """Render the role's template; `where` locates the role field, called only on error."""
    from jinja2 import TemplateError, TemplateNotFound

    name = f"cloud-init/{role}.yaml.j2"
    try:
        template = config.templates.get(name)
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
