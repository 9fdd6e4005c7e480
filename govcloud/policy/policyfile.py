"""policies.yaml: the ministry's exceptions to its policy pack, and the rules' settings.

The file sits at the root of the config repo (found with
`ConfigRepo.find_file('.', 'policies.yaml')`). It is read with the same safe
loader and located schema errors as manifests (its schema and parser are in
`policyschema.py`, imported only when there is a file to read: most runs have
none and get the defaults; the resolved PolicyConfig and the defaults are in
`core.py`). Every exception needs a non-empty
`justification`; exceptions that were applied are listed in every report, so
that no waiver is silent.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Collection

from govcloud.policy.core import PolicyConfig, default_policy

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo
    from govcloud.load.inventory import Inventory

POLICY_FILE = "policies.yaml"

def find_policy_file(config: "ConfigRepo") -> Path | None:
    """policies.yaml at the root of the config repo (else one shipped with the defaults, if any)."""
    return config.find_file(".", POLICY_FILE)


def load_policy_config(config: "ConfigRepo", rule_ids: Collection[str] = (),
                       inventory: "Inventory | None" = None) -> PolicyConfig:
    """The config repo's policies.yaml, or the defaults when there is none."""
    path = find_policy_file(config)
    if path is None:
        return default_policy()
    from govcloud.load.yamlsource import load_yaml_file
    from govcloud.policy.policyschema import parse_policy_config

    return parse_policy_config(load_yaml_file(path), rule_ids, inventory)


def parse_policy_text(text: str, file: str = "<policies.yaml>", rule_ids: Collection[str] = (),
                      inventory: "Inventory | None" = None) -> PolicyConfig:
    """policies.yaml given as text (tests, `govcloud policy` over a file not in a config repo)."""
    from govcloud.load.yamlsource import load_yaml_text
    from govcloud.policy.policyschema import parse_policy_config

    return parse_policy_config(load_yaml_text(text, file), rule_ids, inventory)
