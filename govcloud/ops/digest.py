"""A manifest's input digest: everything a deploy of it depends on, hashed, part by part.

Parts: the manifest file, the blueprint it extends, its site file (flavors, images and the rate card),
the cloud-init templates its servers render, the policy pack (policies.yaml and the config repo's
custom rules), the compiled ResourcePlan (what any other input, e.g. the agency registry, changes in
the deployment), and the govcloud and provider versions. The digest is recorded in the stack index
when the stack matches it; `deploy DIR` runs only the stacks whose digest differs, and says which
parts changed. Computing it reads a few small files (their hashes are shared by all manifests of one
run) and hashes the plan the check already compiled: no engine, no cloud.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from govcloud import __version__

if TYPE_CHECKING:
    from govcloud.config import ConfigRepo
    from govcloud.plan.model import ResourcePlan

INSTANCE_ROLE = "govcloud:role"


@dataclass(frozen=True)
class InputDigest:
    value: str
    parts: Mapping[str, str]  # part name -> sha256 (or a version)

    def changed_parts(self, recorded: Mapping[str, str] | None) -> list[str]:
        """The parts that differ from a recorded digest's parts (all when none was recorded)."""
        if not recorded:
            return ["(never deployed)"]
        names = sorted(set(self.parts) | set(recorded))
        return [n for n in names if self.parts.get(n) != recorded.get(n)]


@dataclass
class FileHashes:
    """sha256 of files, each read once per run (the site file and the policy pack are shared by many)."""

    seen: dict[str, str] = field(default_factory=dict)

    def of(self, path: Path | None) -> str:
        if path is None:
            return "-"
        key = str(path)
        if key not in self.seen:
            try:
                self.seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                self.seen[key] = "unreadable"
        return self.seen[key]


_VERSIONS: dict[str, str] = {}


def tool_versions() -> dict[str, str]:
    """govcloud's and the providers' versions (read once per process)."""
    if not _VERSIONS:
        from govcloud.engine.toolchain import ToolchainError, pinned_versions

        try:
            v = pinned_versions()
            _VERSIONS.update({"pulumi": v.pulumi, "pulumi-openstack": v.pulumi_openstack})
        except ToolchainError:
            _VERSIONS.update({"pulumi": "?", "pulumi-openstack": "?"})
        _VERSIONS["govcloud"] = __version__
    return dict(_VERSIONS)


def blueprint_of(manifest: str | Path) -> str | None:
    """spec.blueprint of a manifest that already passed the check (a plain read of the small file)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(Path(manifest).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError):
        return None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    name = spec.get("blueprint") if isinstance(spec, dict) else None
    return name if isinstance(name, str) else None


def policy_files(config: ConfigRepo) -> list[Path]:
    from govcloud.policy.policyfile import find_policy_file
    from govcloud.policy.registry import CUSTOM_DIR

    files = [p for p in [find_policy_file(config)] if p is not None]
    if config.root is not None and (config.root / CUSTOM_DIR).is_dir():
        files += sorted((config.root / CUSTOM_DIR).glob("*.py"))
    return files


def input_digest(manifest: str | Path, plan: ResourcePlan, config: ConfigRepo,
                 hashes: FileHashes | None = None) -> InputDigest:
    from govcloud.review.savedplan import plan_hash

    hashes = hashes or FileHashes()
    parts = {"manifest": hashes.of(Path(manifest))}
    bp = blueprint_of(manifest)
    if bp:
        parts[f"blueprint {bp}"] = hashes.of(config.find_file("stacks", f"{bp}.yaml"))
    site = plan.service.site
    parts[f"site {site}"] = hashes.of(config.find_file("inventories/sites", f"{site}.yaml"))
    roles = sorted({str(r.inputs["metadata"][INSTANCE_ROLE]) for r in plan.resources
                    if isinstance(r.inputs.get("metadata"), Mapping) and INSTANCE_ROLE in r.inputs["metadata"]})
    for role in roles:
        parts[f"template cloud-init/{role}"] = hashes.of(config.find_file("templates/cloud-init", f"{role}.yaml.j2"))
    policy = "".join(hashes.of(p) for p in policy_files(config))
    parts["policy"] = hashlib.sha256(policy.encode()).hexdigest()
    parts["plan"] = plan_hash(plan)
    parts.update({f"version {k}": v for k, v in tool_versions().items()})
    text = "".join(f"{k}={v}\n" for k, v in sorted(parts.items()))
    return InputDigest(hashlib.sha256(text.encode()).hexdigest(), parts)


def record_operation(checked, operation: str, result: str, *, resources: int | None = None,
                     digest: InputDigest | None = None) -> str | None:
    """Record an operation on a checked manifest's stack in the stack index (the digest only when `result`
    is ok). Returns why it could not be recorded (the operation itself is not undone for that), or None."""
    from govcloud.errors import GovcloudError
    from govcloud.shared.index import manifest_key, operation_entry, stack_index

    plan, config = checked.plan, checked.workspace.config
    s = plan.service
    name = f"{s.pulumi_project}/{s.stack}"
    try:
        index = stack_index(config)
        digest = digest or input_digest(checked.file, plan, config)
        index.put(operation_entry(index.get(name), stack=name, agency=s.agency, site=s.site,
                                  environment=s.environment, manifest=manifest_key(config, checked.file),
                                  operation=operation, result=result, digest=digest.value,
                                  digest_parts=digest.parts, resources=resources))
    except (GovcloudError, OSError) as exc:
        return f"the stack index was not updated: {exc}"
    except Exception as exc:  # noqa: BLE001 - a database error: reported, the operation stands
        return f"the stack index was not updated: {type(exc).__name__}: {exc}"
    return None
