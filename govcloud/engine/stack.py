"""Where a stack lives and what its state holds: StackLocation (project, stack, backend, work dir),
the Pulumi CLI for state operations that do not run the program (export, import, outputs, history,
cancel), and the typed view of an exported state.

project `govcloud-<agency>`, stack `<service>-<environment>` (from the plan); backend: `backend:` in
the config repo's govcloud.yaml (any Pulumi DIY URL: file://, s3://, postgres://...) or
`file://<state_dir>/state`. `{agency}` in the URL is replaced by the stack's agency, so one setting gives every
agency a backend of its own (a directory, bucket or database the ministry grants that agency's CI alone:
docs/isolation.md); the Pulumi project directory (Pulumi.yaml, Pulumi.<stack>.yaml with the
passphrase salt) is `<state_dir>/workspaces/<project>/<stack>/`, one per stack so that parallel runs
never rewrite each other's files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.plan.model import PULUMI_PROJECT_PREFIX, PlannedResource, ResourcePlan

from govcloud.plan.resources import INSTANCE, VOLUME
from govcloud.settings import AGENCY_PLACEHOLDER, StateDir

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
    def state(self) -> StateDir:
        return StateDir(Path(self.state_dir))

    @property
    def work_dir(self) -> Path:
        return self.state.workspace(self.project, self.stack)

    def backend_path(self) -> Path | None:
        """The directory of a file:// backend (None for other backends)."""
        if not self.backend_url.startswith("file://"):
            return None
        raw = self.backend_url[len("file://"):].split("?", 1)[0]
        return Path(os.path.expanduser(raw))

    def checkpoint_path(self) -> Path | None:
        """The stack's checkpoint in a file:// backend (None for other backends); `<stack>.json`, or a sibling
        with another suffix when the backend compresses (`.json.gz`)."""
        base = self.backend_path()
        return None if base is None else base / ".pulumi" / "stacks" / self.project / f"{self.stack}.json"

    def has_checkpoint(self) -> bool:
        """A file:// backend holds this stack (False for other backends: only their CLI can tell). Its
        `.bak` (what `pulumi stack rm` leaves) and `.attrs` sidecars are not the stack."""
        path = self.checkpoint_path()
        return path is not None and (path.is_file() or path.with_name(f"{path.name}.gz").is_file())

    def engine_lock_dir(self) -> Path | None:
        base = self.backend_path()
        return None if base is None else base / ".pulumi" / "locks" / "organization" / self.project / self.stack

    def to_json(self) -> dict:
        return {"project": self.project, "stack": self.stack, "backendUrl": self.backend_url,
                "stateDir": self.state_dir}


def repair_sidecars(loc: StackLocation) -> list[str]:
    """Remove the empty metadata sidecars a killed engine can leave in a file:// backend; what was removed.

    The file backend (gocloud's fileblob) writes each state file atomically, but beside it a `<file>.attrs`
    sidecar (content type, MD5) that it creates and then fills: a SIGKILL in between leaves it empty, and
    every later read of the checkpoint fails with "failed to load checkpoint: EOF". A missing sidecar is
    read as none, so an empty one (of this stack's checkpoint, history or backups) is removed."""
    base = loc.backend_path()
    if base is None:
        return []
    root = base / ".pulumi"
    removed = []
    for d, prefix in ((root / "stacks" / loc.project, f"{loc.stack}."), (root / "history" / loc.project / loc.stack, ""),
                      (root / "backups" / loc.project / loc.stack, "")):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.name.endswith(".attrs") and e.name.startswith(prefix) and e.stat().st_size == 0:
                    os.unlink(e.path)
                    removed.append(e.name)
            except OSError:
                continue
    return [f"removed {name}: an empty metadata file a killed engine left beside the state (every read of the "
            f"state failed on it)" for name in removed]


def backend_url(config: ConfigRepo, agency: str | None = None) -> str:
    """The configured backend (`backend:` in govcloud.yaml, `{agency}` replaced by `agency`) or
    file://<state_dir>/state (a name only: the directory of a file:// backend is created by ensure_workdir,
    before the engine first writes there). Without `agency` the placeholder stays (doctor shows the template)."""
    configured = config.settings.backend
    if configured and agency is not None:
        configured = configured.replace(AGENCY_PLACEHOLDER, agency)
    if configured:
        if configured.startswith("file://"):
            path = Path(os.path.expanduser(configured[len("file://"):]))
            if not path.is_absolute():
                path = (config.root or Path.cwd()) / path
            return "file://" + str(path.resolve())
        return configured
    return "file://" + str(config.state_dir.file_backend.resolve())


def locate(plan: ResourcePlan, config: ConfigRepo) -> StackLocation:
    return StackLocation(plan.service.pulumi_project, plan.service.stack, backend_url(config, plan.service.agency),
                         str(config.state_dir.root.resolve()))


def locate_stack(name: str, config: ConfigRepo) -> StackLocation:
    """The location of a stack known by its name, `govcloud-<agency>/<stack>` (as audit records name it)."""
    project, sep, stack = name.partition("/")
    if not sep or not project.startswith(PULUMI_PROJECT_PREFIX) or not stack:
        raise ValueError(f"not a govcloud stack name (govcloud-<agency>/<stack>): {name!r}")
    return StackLocation(project, stack, backend_url(config, project.removeprefix(PULUMI_PROJECT_PREFIX)),
                         str(config.state_dir.root.resolve()))


def urn_of(loc: StackLocation, entry: PlannedResource) -> str:
    return ev.make_urn(loc.stack, loc.project, entry.type, entry.key)


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


@dataclass(frozen=True)
class StateResource:
    """One resource of an exported state, as the workflows read it."""

    urn: str
    key: str
    type: str
    id: str | None
    inputs: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool = False


@dataclass(frozen=True)
class StackState:
    """A stack's exported state (`pulumi stack export`), parsed once: its cloud resources, the operations an
    interrupted run left pending, and the raw export (what fingerprints and state edits work on)."""

    raw: Mapping[str, Any]
    resources: tuple[StateResource, ...]
    pending: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_export(cls, data: Mapping[str, Any] | None) -> "StackState | None":
        if not data:
            return None
        dep = data.get("deployment") or {}
        resources = tuple(
            StateResource(urn=str(r.get("urn", "")), key=ev.urn_parts(str(r.get("urn", "")))[1],
                          type=str(r.get("type", "")), id=r.get("id"), inputs=r.get("inputs") or {},
                          protect=bool(r.get("protect")), retain_on_delete=bool(r.get("retainOnDelete")))
            for r in deployed_resources(data))
        return cls(raw=data, resources=resources, pending=tuple(dep.get("pending_operations") or ()))

    def keys(self) -> set[str]:
        return {r.key for r in self.resources}

    def volume_shrinks(self, plan: ResourcePlan) -> dict[str, str]:
        return volume_shrinks(plan, self.raw)

    def user_data_drift(self, plan: ResourcePlan) -> list[str]:
        return user_data_drift(plan, self.raw)
