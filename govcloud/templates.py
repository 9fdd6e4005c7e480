"""The Jinja2 templates govcloud renders, from one sandboxed environment per config repo.

cloud-init user data (templates/cloud-init/), the `govcloud init` scaffolds (templates/init/), the
review's markdown (templates/review/) and the HTML usage report (templates/reports/) all come from the
config repo's templates/ over the shipped ones, through `ConfigRepo.templates` (compiled once per
config repo, held by it: no process-wide cache).

Templates run in Jinja2's immutable sandbox with StrictUndefined: a typo in a template is an error, not
an empty string, and templates cannot reach Python internals. Values reach templates only as variables,
which Jinja2 never evaluates as template code. `*.html.j2` templates are autoescaped (select_autoescape
by name); the others write values with the `tojson` filter (plain JSON, a subset of YAML) so that a value
cannot break out of its YAML string either.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment, Template

    from govcloud.config import ConfigRepo

AUTOESCAPED = ("html.j2",)  # template names ending in .html.j2 are HTML


# The `tojson` filter: plain JSON (a subset of YAML). Jinja2's own tojson escapes for HTML, which
# cloud-config does not need. It is json.dumps(value, ensure_ascii=False, sort_keys=True) with the
# encoder made once: dumps builds a new JSONEncoder for every call with options (2 calls per user data).
_tojson = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


class Templates:
    """The templates of one config repo. Jinja2 is imported and templates compiled on first use."""

    def __init__(self, config: "ConfigRepo"):
        self.config = config
        self._environment: Environment | None = None
        self._templates: dict[str, Template] = {}  # by name: one lookup per user data, not Jinja2's per call

    @property
    def environment(self) -> "Environment":
        if self._environment is None:
            from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            env = ImmutableSandboxedEnvironment(
                loader=FileSystemLoader([str(d) for d in self.config.search_dirs("templates")]),
                undefined=StrictUndefined, autoescape=select_autoescape(AUTOESCAPED, default_for_string=False),
                keep_trailing_newline=True, auto_reload=False,
                cache_size=-1)  # a plain dict: `{% extends %}` looks its parent up in every render
            env.filters["tojson"] = _tojson
            self._environment = env
        return self._environment

    def get(self, name: str) -> "Template":
        """The template `name` (e.g. cloud-init/web.yaml.j2); jinja2.TemplateNotFound when there is none."""
        found = self._templates.get(name)
        if found is None:  # the environment never reloads a template (auto_reload=False): the same object
            found = self._templates[name] = self.environment.get_template(name)
            # Jinja2 keeps a template's globals as a ChainMap over the environment's, which every render
            # copies into its context twice (slow, in Python); nothing changes them once the environment
            # is made, so the template keeps a plain dict of the same globals
            found.globals = dict(found.globals)
        return found

    def render(self, name: str, /, **context: Any) -> str:
        return self.get(name).render(**context)
