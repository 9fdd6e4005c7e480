"""Where a stack lives and what its state holds: StackLocation (project, stack, backend, work dir),
the Pulumi CLI for state operations that do not run the program (export, import, outputs, history,
cancel), and the typed view of an exported state.

project `govcloud-<agency>`, stack `<service>-<environment>` (from the plan); backend: `backend:` in
the config repo's govcloud.yaml (any Pulumi DIY URL: file://, s3://, postgres://...) or
`file://<state_dir>/state`; the Pulumi project directory (Pulumi.yaml, Pulumi.<stack>.yaml with the
passphrase salt) is `<state_dir>/workspaces/<project>/<stack>/`, one per stack so that parallel runs
never rewrite each other's files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.plan.model import PlannedResource, ResourcePlan

from govcloud.plan.resources import INSTANCE, VOLUME
from govcloud.errors import SetupError

if TYPE_CHECKING:
    from govcloud.engine.command import PulumiCli






@dataclass(frozen=True)
class StackLocation:
    project: str
    stack: str
    backend_url: str
    state_dir: str

    @property
    def name(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def work_dir(self) -> Path:
        return Path(self.state_dir) / "workspaces" / self.project / self.stack

    def backend_path(self) -> Path | None:
        """The directory of a file:// backend (None for other backends)."""
        if not self.backend_url.startswith("file://"):
            return None
        raw = self.backend_url[len("file://"):].split("?", 1)[0]
        return Path(os.path.expanduser(raw))

    def engine_lock_dir(self) -> Path | None:
        base = self.backend_path()
        return None if base is None else base / ".pulumi" / "locks" / "organization" / self.project / self.stack

    def to_json(self) -> dict:
        return {"project": self.project, "stack": self.stack, "backendUrl": self.backend_url,
                "stateDir": self.state_dir}


def backend_url(config: ConfigRepo) -> str:
    """The configured backend (`backend:` in govcloud.yaml) or file://<state_dir>/state, created on first use."""
    configured = config.settings.get("backend") if isinstance(config.settings, dict) else None
    if configured:
        url = str(configured)
        if url.startswith("file://"):
            raw = os.path.expanduser(url[len("file://"):])
            path = Path(raw)
            if not path.is_absolute():
                path = (config.root or Path.cwd()) / path
            path.mkdir(parents=True, exist_ok=True)
            return "file://" + str(path.resolve())
        return url
    path = Path(config.state_dir) / "state"
    path.mkdir(parents=True, exist_ok=True)
    return "file://" + str(path.resolve())


def locate(plan: ResourcePlan, config: ConfigRepo) -> StackLocation:
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return StackLocation(plan.service.pulumi_project, plan.service.stack, backend_url(config),
                         str(state_dir.resolve()))


def read_passphrase(environ: Mapping[str, str] | None = None) -> str:
    """The stack secrets passphrase: GOVCLOUD_PASSPHRASE, else the file named by GOVCLOUD_PASSPHRASE_FILE."""
    env = os.environ if environ is None else environ
    value = env.get("GOVCLOUD_PASSPHRASE")
    if value:
        return value
    file = env.get("GOVCLOUD_PASSPHRASE_FILE")
    if file:
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SetupError(f"cannot read the passphrase file GOVCLOUD_PASSPHRASE_FILE={file}: "
                             f"{exc.strerror or exc}") from None
        if not text:
            raise SetupError(f"the passphrase file GOVCLOUD_PASSPHRASE_FILE={file} is empty")
        return text
    raise SetupError(
        "no passphrase for the stack's secrets: set GOVCLOUD_PASSPHRASE, or GOVCLOUD_PASSPHRASE_FILE to a file "
        "holding it (e.g. `umask 077; head -c 32 /dev/urandom | base64 > ~/.govcloud-passphrase`). It encrypts "
        "secrets such as the OpenStack password in the stack state: keep it, the state cannot be used without it")



def urn_of(loc: StackLocation, entry: PlannedResource) -> str:
    return f"urn:pulumi:{loc.stack}::{loc.project}::{entry.type}::{entry.key}"


def _resources(deployment: Mapping | None) -> list[dict]:
    if not deployment:
        return []
    return list((deployment.get("deployment") or {}).get("resources") or [])


def deployed_resources(deployment: Mapping | None) -> list[dict]:
    """The cloud resources in a stack's state (not the stack itself, not providers)."""
    return [r for r in _resources(deployment) if not str(r.get("type", "")).startswith("pulumi:")
            and not r.get("delete")]


def unprotect(cli: PulumiCli, urns: Iterable[str] | None = None) -> list[str]:
    """Clear protect and retainOnDelete in the state (all resources when urns is None); the URNs changed."""
    dep = cli.export()
    if dep is None:
        return []
    want = None if urns is None else set(urns)
    changed = []
    for r in _resources(dep):
        if (want is None or r.get("urn") in want) and (r.get("protect") or r.get("retainOnDelete")):
            r["protect"] = False
            r["retainOnDelete"] = False
            changed.append(r["urn"])
    if changed:
        cli.import_(dep)
    return changed


def _deployed_inputs(plan: ResourcePlan, deployment: Mapping | None, type_: str):
    """(plan entry, its deployed inputs) for the plan's entries of one type that the stack holds."""
    state = {ev.urn_parts(r.get("urn", ""))[1]: r for r in deployed_resources(deployment) if r.get("type") == type_}
    for entry in plan.resources:
        r = state.get(entry.key)
        if entry.type == type_ and r is not None:
            yield entry, r.get("inputs") or {}


def volume_shrinks(plan: ResourcePlan, deployment: Mapping | None) -> dict[str, str]:
    """Deployed volumes the plan makes smaller: key -> why govcloud replaces them.

    Cinder only extends; the provider would try an in-place update that the cloud refuses half way through
    a deploy. govcloud asks the engine to replace these volumes instead, so the review shows a replacement
    (data loss: the guard refuses it without --allow-data-loss) and the deploy does what it showed.
    """
    out = {}
    for entry, inputs in _deployed_inputs(plan, deployment, VOLUME):
        old, new = inputs.get("size"), entry.inputs.get("size")
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and new < old:
            out[entry.key] = f"size {old:g} -> {new:g} GB: a volume cannot shrink"
    return out


def user_data_drift(plan: ResourcePlan, deployment: Mapping | None) -> list[str]:
    """Keys of deployed servers whose user data differs from the plan's (not applied: ignore_changes)."""
    return [entry.key for entry, inputs in _deployed_inputs(plan, deployment, INSTANCE)
            if isinstance(inputs.get("userData"), str) and inputs["userData"] != entry.inputs.get("user_data")]
