"""docs/policies.md, generated from the rule registry.

    .venv/bin/python -m govcloud.policy.docs > docs/policies.md

`govcloud policy list --format markdown` prints the same page for the rules
of a config repo (custom rules included). A test checks that the committed
docs/policies.md is what the registry generates.
"""
from __future__ import annotations

import sys
from typing import Iterable

from govcloud.policy.core import Rule
from govcloud.policy.core import ADMIN_PORT_NAMES, DEFAULT_ADMIN_PORTS, DEFAULT_MAX_SERVERS, DEFAULT_SIZE_CEILING, DEFAULT_TRUSTED_NETWORKS

EXAMPLE_POLICIES = """\
# policies.yaml at the root of the config repo (next to govcloud.yaml).
apiVersion: govcloud/v1
kind: PolicyConfig
settings:
  sizeCeiling:                 # GC009: largest server per environment (null: no ceiling)
    dev: {vcpus: 4, ramGb: 16}
    test: {vcpus: 8, ramGb: 32}
  maxServers: {dev: 6, test: 8}          # GC010: servers per manifest
  manifestDirs: [manifests]    # always counted by quotas, overlaps and duplicate names
  rules:                       # free-form settings for the ministry's own rules
    MOH001: {teams: [web, data, hr-systems]}
exceptions:                    # first matching entry wins; list narrow ones first
  - rule: GC011
    severity: off              # off | advisory | mandatory
    agencies: [mefa]
    services: [hr-app]
    justification: "restored from nightly backups within 4 h (RTO approved by the MEFA CIO, OPS-1234)"
  - rule: GC014
    severity: mandatory        # stricter than the baseline for one agency
    agencies: [moh]
    environments: [prod]
    justification: "MoH requires health checks on every production server (MoH IT policy 2026-03)"
"""

CUSTOM_RULE_EXAMPLE = '''\
# policies/team_label.py in the config repo
from govcloud.policy import MANDATORY, Rule, Violation, rule


@rule("MOH001", title="Services name their team", severity=MANDATORY,
      resource="metadata.labels.team", hint="add labels: {team: <your team>}")
def team_label(svc):
    """Every service has a `team` label naming one of the ministry's teams."""
    teams = svc.rule_settings("MOH001").get("teams")
    team = svc.metadata.labels.get("team")
    if team is None:
        yield Violation(("metadata", "labels", "team"), "the service has no team label",
                        at=("metadata",), key=True)
    elif teams and team not in teams:
        yield ("metadata", "labels", "team"), f"unknown team '{team}'"


class NoWindows(Rule):
    """Windows servers need a support contract the ministry does not have."""

    id = "MOH002"
    title = "No Windows servers"
    severity = "advisory"
    resource = "spec.servers[].image"
    hint = "use a Linux image"

    def check(self, svc):
        for i, server in enumerate(svc.spec.servers):
            if server.image.startswith("windows"):
                yield ("spec", "servers", i, "image"), f"server '{server.name}' runs {server.image}"
'''


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rules: Iterable[Rule]) -> str:
    rules = sorted(rules, key=lambda r: r.id)
    out = [
        "# Policy pack",
        "",
        "<!-- Generated from the rule registry (govcloud/policy/registry.py) by",
        "     `.venv/bin/python -m govcloud.policy.docs > docs/policies.md`. Do not edit by hand. -->",
        "",
        "Every manifest is checked against the ministry's policy pack by `govcloud policy check`,",
        "`validate`, `plan` and `deploy`. A finding names its rule id, file:line:column and field,",
        "and says how to fix it. **mandatory** findings block validate, plan and deploy (exit 1);",
        "**advisory** ones are printed as warnings. The config repo's `policies.yaml` can turn a",
        "rule off or change its severity for some environments, agencies, sites or services, with",
        "a justification that every report repeats.",
        "",
        "| id | title | severity | points at |",
        "|---|---|---|---|",
    ]
    for r in rules:
        out.append(f"| [{r.id}](#{r.id.lower()}) | {_cell(r.title)} | {r.severity} | `{_cell(r.resource)}` |")
    out += ["", "## Rules", ""]
    for r in rules:
        out += [f"### {r.id}", "", f"**{r.title}** — {r.severity}"
                + ("" if r.source == "builtin" else f" (from {r.source})"), ""]
        if r.description:
            out += [r.description, ""]
        out.append(f"- Points at: `{r.resource}`")
        if r.scope == "group":
            out.append(f"- Checks across manifests grouped by {', '.join(_group_words(r))}")
        if r.settings:
            out.append("- Settings: " + ", ".join(f"`settings.{s}`" for s in r.settings))
        out += [f"- Fix: {r.hint}", ""]
    out += _config_section() + _custom_section() + _cli_section()
    return "\n".join(out).rstrip() + "\n"


def _group_words(r: Rule) -> list[str]:
    words = {"agency_id": "agency", "site_name": "site", "environment": "environment"}
    return [words.get(a, a) for a in getattr(r, "group_by", ())]


def _config_section() -> list[str]:
    ceilings = ", ".join(f"{env} {c}" for env, c in DEFAULT_SIZE_CEILING.items())
    servers = ", ".join(f"{env} {n}" for env, n in DEFAULT_MAX_SERVERS.items())
    ports = ", ".join(f"{p} ({ADMIN_PORT_NAMES[p]})" for p in DEFAULT_ADMIN_PORTS)
    return [
        "## policies.yaml",
        "",
        "`policies.yaml` sits at the root of the config repo, next to `govcloud.yaml`. It is checked",
        "like every other file: unknown keys, wrong types, unknown rule ids, agencies or sites are",
        "errors with file:line:column. Every exception needs a non-empty `justification`.",
        "",
        "```yaml",
        EXAMPLE_POLICIES.rstrip(),
        "```",
        "",
        "### exceptions",
        "",
        "Each entry names a `rule` and a `severity`: `off` (waive: the finding is still listed,",
        "marked waived, with its justification), `advisory` (warn only) or `mandatory` (block).",
        "The optional `environments`, `agencies`, `sites` and `services` (service names) narrow",
        "it; an entry without them applies everywhere. For each finding the first matching entry",
        "of the file applies. Reports list every exception that applied, with its justification",
        "and how many findings it changed, and the entries that matched nothing.",
        "",
        "### settings",
        "",
        "| setting | default | used by |",
        "|---|---|---|",
        f"| `sizeCeiling` | {ceilings}; none in staging and prod | GC009 |",
        f"| `maxServers` | {servers}; none in staging and prod | GC010 |",
        f"| `trustedNetworks` | {', '.join(DEFAULT_TRUSTED_NETWORKS)} | GC002, GC006 |",
        f"| `adminPorts` | {ports} | GC001 |",
        "| `manifestDirs` | none | GC012, GC015, GC016 |",
        "| `rules` | none | the ministry's own rules (`svc.rule_settings(id)`) |",
        "",
        "`sizeCeiling` and `maxServers` are per environment: the environments given replace the",
        "defaults for those environments (`null` removes the limit), the others keep theirs.",
        "`manifestDirs` (relative to the config repo) are loaded with every check so that quotas,",
        "overlapping networks and duplicate names count all of the ministry's manifests even when",
        "one file is validated or deployed. `plan`, `cost`, `diff` and `deploy` of one file also",
        "count the other manifests of the config repo's `manifests/` (else of the file's directory).",
        "Of those context manifests only the ones that can share a group with the checked files",
        "(same agency and site, or same agency and environment, by the group rules' `group_by`)",
        "are built and checked; the others are only read as far as their agency, environment and",
        "site (a few lines of YAML), so a repo of 20,000 manifests costs seconds, not minutes. A",
        "ministry rule grouping by anything else has every context manifest built. A context",
        "manifest that is itself invalid is left out; it is reported when it is checked.",
        "",
        "A directory of many manifests is checked in several processes (`validate` and `policy",
        "check`, `--jobs N`, by default one per CPU; `--jobs 1` for one): every group rule groups",
        "by the agency, so the manifests of one agency are checked in the same process, and what",
        "is printed is the same as in one process. A ministry rule whose `group_by` has nothing",
        "in common with the other group rules' that a manifest names (agency, environment, site)",
        "makes the check run in one process.",
        "",
    ]


def _custom_section() -> list[str]:
    return [
        "## The ministry's own rules",
        "",
        "A ministry adds rules without changing govcloud, in the same shape as the baseline's:",
        "",
        "- Python files in `policies/*.py` at the root of the config repo: every `Rule`",
        "  subclass and every function under `@rule` / `@group_rule` defined there is registered;",
        "- or an installed package with an entry point in the group `govcloud.policies` naming a",
        "  module, a rule, a list of rules, or a function returning them:",
        "  `[project.entry-points.\"govcloud.policies\"] moh = \"moh_policies\"`.",
        "",
        "Ids are upper-case letters and 3-4 digits (`MOH001`); `GC` ids belong to the baseline.",
        "A rule needs a title, a severity and a remediation hint; its docstring is its",
        "documentation (`govcloud policy list --format markdown`). `check(svc)` receives a",
        "`ServiceContext` (`svc.manifest`, `.metadata`, `.spec`, `.site`, `.agency`, `.plan` — the",
        "ResourcePlan, `.facts` — precomputed site facts, `.settings`, `.internet_ingress`) and",
        "yields `Violation(path, message)` or `(path, message)` where `path` is a manifest field",
        "path tuple; govcloud locates it (file:line, also inside blueprints) and applies the",
        "exceptions. Group rules (`GroupRule`, `@group_rule(..., group_by=(\"agency_id\", \"site_name\"))`)",
        "see every manifest of a group at once and set `service=` on each violation.",
        "",
        "```python",
        CUSTOM_RULE_EXAMPLE.rstrip(),
        "```",
        "",
    ]


def _cli_section() -> list[str]:
    return [
        "## Commands",
        "",
        "```sh",
        "govcloud policy list [--format text|json|markdown]   # the rules in force, with the exceptions",
        "govcloud policy check PATHS... [--format text|json] [--jobs N]  # exit 1 on any mandatory finding",
        "```",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    from govcloud.policy.registry import builtin_rules

    sys.stdout.write(render_markdown(builtin_rules()))


if __name__ == "__main__":  # pragma: no cover
    main()
