"""Saved plans: `govcloud diff FILE --out change.plan`, then `govcloud deploy FILE --plan change.plan`.

A plan file records the change a person (or a merge request) reviewed, so
that the deploy applies exactly that change or nothing:

- the manifest (path as given) and the sha256 of its bytes,
- the sha256 of the compiled ResourcePlan (canonical JSON, without the
  manifest path): it moves when the manifest, a blueprint, the inventory, a
  cloud-init template or the govcloud version changes what would be deployed,
- the stack (project/stack) and its fingerprint when the change was
  previewed (`stack_fingerprint()` of the stack's exported state, given by
  the caller): it moves on any deploy, refresh, destroy or state edit since,
- the expected changes: per resource its URN, op and changed fields (names
  only: a plan file never holds a value, so it holds no secret),
- when and by which govcloud version it was made, and the review's verdict.

`verify_plan()` fails closed: anything that moved, or a fresh preview whose
changes differ from the saved ones, raises `PlanMovedError` (exit 1) saying
what moved; `load_plan()` reads the file through the pydantic model of its format (`PlanFile`, the
same model that writes it) and reports a damaged file with its file:line:column.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Sequence

from pydantic import AfterValidator

from govcloud import __version__
from govcloud.engine.events import HIDDEN_OPS, ResourceChange, urn_parts
from govcloud.engine.runner import OperationResult
from govcloud.errors import GovcloudError, InputError, Problem, SourceLocation
from govcloud.load.validation import StrictModel, validate_model
from govcloud.plan.model import ResourcePlan
from govcloud.provenance import file_sha256, utc_now
from govcloud.review.model import Review
from govcloud.review.schema import OpName

KIND = "govcloud.SavedPlan"
PLAN_VERSION = 1
NO_STACK = "none"  # the fingerprint of a stack that does not exist yet
_AGAIN = "make it again with `govcloud diff FILE --out PLAN`"


class PlanMovedError(GovcloudError):
    """The saved plan no longer describes what a deploy would do (exit 1); `moved` says what changed."""

    exit_code = 1

    def __init__(self, plan_file: str, moved: Sequence[str]):
        self.plan_file = plan_file
        self.moved = tuple(moved)
        lines = [f"refusing to deploy the saved plan {plan_file}: it no longer matches"]
        lines += [f"  {m}" for m in self.moved]
        lines.append("nothing was changed; review the change again (govcloud diff FILE --out PLAN) and deploy that plan")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class ExpectedChange:
    urn: str
    op: str
    changed: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return urn_parts(self.urn)[1]

    def describe(self) -> str:
        return f"{self.op} {self.key}" + (f" ({', '.join(self.changed)})" if self.changed else "")


@dataclass(frozen=True)
class SavedPlan:
    manifest: str
    manifest_sha256: str
    plan_sha256: str
    stack: str
    stack_fingerprint: str
    changes: tuple[ExpectedChange, ...]
    created: str  # UTC, ISO 8601
    govcloud_version: str
    verdict: str = ""
    file: str = ""  # where it was loaded from / saved to

    def to_json(self) -> dict:
        return PlanFile(
            manifest=ManifestDigest(path=self.manifest, sha256=self.manifest_sha256),
            resource_plan=PlanDigest(sha256=self.plan_sha256),
            stack=StackFingerprint(name=self.stack, fingerprint=self.stack_fingerprint),
            changes=[PlannedChange(urn=c.urn, op=c.op, changed=list(c.changed)) for c in self.changes],
            verdict=self.verdict, created=self.created, govcloud_version=self.govcloud_version,
        ).model_dump(by_alias=True)


# ---------------------------------------------------------------- the file format


def _sha256(value: str) -> str:
    if not (len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
        raise ValueError("must be a sha256 (64 lowercase hex digits)")
    return value


Sha256 = Annotated[str, AfterValidator(_sha256)]


class ManifestDigest(StrictModel):
    path: str
    sha256: Sha256


class PlanDigest(StrictModel):
    sha256: Sha256


class StackFingerprint(StrictModel):
    name: str
    fingerprint: str


class PlannedChange(StrictModel):
    urn: str
    op: OpName
    changed: list[str]  # the changed fields' names (never values)


class PlanFile(StrictModel):
    """A plan file (JSON): what `diff --out` writes and `deploy --plan` reads, key for key."""

    kind: Literal["govcloud.SavedPlan"] = KIND
    plan_version: Literal[1] = PLAN_VERSION
    manifest: ManifestDigest
    resource_plan: PlanDigest
    stack: StackFingerprint
    changes: list[PlannedChange]
    verdict: str = ""
    created: str
    govcloud_version: str


# ---------------------------------------------------------------- hashes and fingerprints


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the manifest file's bytes."""
    return file_sha256(path)


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def plan_hash(plan: ResourcePlan | Mapping[str, Any]) -> str:
    """sha256 of the compiled ResourcePlan as canonical JSON, without the manifest path (which depends on
    the directory the command runs in, not on what is deployed)."""
    data = dict(plan.to_json() if isinstance(plan, ResourcePlan) else plan)
    data.pop("manifest", None)
    return sha256_bytes(canonical_json(data))


def stack_fingerprint(deployment: Mapping[str, Any] | None, version: int | str | None = None) -> str:
    """A fingerprint of a stack's state: `v<version>:<sha256 of the exported deployment>`.

    `deployment` is what `pulumi stack export` prints (govcloud.engine.PulumiCli.export(); None when the stack
    does not exist: NO_STACK); `version`, when known, the last update's number from the stack history.
    Any deploy, refresh, destroy, import or state edit changes it; a preview does not.
    """
    if deployment is None or not (deployment.get("deployment") or {}).get("resources"):
        # a stack that holds nothing (made by a preview, or destroyed) is as good as none for a plan
        return NO_STACK
    digest = sha256_bytes(canonical_json(deployment))[:32]
    return f"v{version}:{digest}" if version is not None else digest


def expected_changes(changes: Review | OperationResult | Iterable[ResourceChange]) -> tuple[ExpectedChange, ...]:
    """The changes a preview makes, per resource (urn, op, changed fields), in URN order; unchanged resources
    (same, read, refresh) and the stack/provider are left out."""
    if isinstance(changes, Review):
        items = [(r.urn, r.op, tuple(f.path for f in r.fields), r.type) for r in changes.resources]
    else:
        records = changes.changes if isinstance(changes, OperationResult) else changes
        items = [(c.urn, c.op, tuple(c.changed), c.type) for c in records]
    out = {}
    for urn, op, changed, rtype in items:
        if op in HIDDEN_OPS or str(rtype).startswith("pulumi:"):
            continue
        out[urn] = ExpectedChange(urn, op, tuple(sorted(changed)))
    return tuple(out[u] for u in sorted(out))


# ---------------------------------------------------------------- save / load


def save_plan(out: str | os.PathLike[str], *, manifest_path: str | os.PathLike[str], plan: ResourcePlan,
              stack: str, stack_fingerprint: str, changes: Review | OperationResult | Iterable[ResourceChange],
              verdict: str = "", manifest_sha256: str | None = None) -> SavedPlan:
    """Write the plan file (atomically: a reader never sees half of it) and return what was written."""
    saved = SavedPlan(
        manifest=str(manifest_path),
        manifest_sha256=manifest_sha256 or manifest_hash(manifest_path),
        plan_sha256=plan_hash(plan), stack=stack, stack_fingerprint=stack_fingerprint,
        changes=expected_changes(changes), created=utc_now(), govcloud_version=__version__,
        verdict=verdict or (changes.verdict if isinstance(changes, Review) else ""), file=str(out))
    path = Path(out)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(saved.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return saved


def load_plan(path: str | os.PathLike[str]) -> SavedPlan:
    """Read a plan file; InputError with file:line:column problems when it is not one."""
    file = str(path)

    def refuse(message: str, location: SourceLocation, field: str = "", hint: str | None = None) -> InputError:
        return InputError([Problem(message, field, location, code="plan", hint=hint)])

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise refuse(f"cannot read the plan file: {exc.strerror or exc}", SourceLocation(file, 1, 1)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not a govcloud plan file: not UTF-8 text (byte {exc.start})",
                     SourceLocation(file, 1, 1)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"not a govcloud plan file: invalid JSON: {exc.msg}", SourceLocation(file, exc.lineno, exc.colno),
                     hint=_AGAIN) from None
    locate = _locator(text, file)
    # what the file is, before what it says: another kind or version is refused as a whole
    if not isinstance(data, dict):
        raise refuse("not a govcloud plan file: expected a JSON object", locate(()))
    if data.get("kind") != KIND:
        raise refuse(f"not a govcloud plan file: kind is {data.get('kind')!r}, expected {KIND!r}",
                     locate(("kind",)), "kind")
    if data.get("planVersion") != PLAN_VERSION:
        raise refuse(f"plan version {data.get('planVersion')!r} is not supported by govcloud {__version__}",
                     locate(("planVersion",)), "planVersion",
                     hint=f"this govcloud reads planVersion {PLAN_VERSION}; make the plan again")
    try:
        doc: PlanFile = validate_model(PlanFile, data, locate)
    except InputError as exc:
        raise InputError([Problem(p.message, p.path, p.location, code="plan", hint=p.hint)
                          for p in exc.problems]) from None
    return SavedPlan(manifest=doc.manifest.path, manifest_sha256=doc.manifest.sha256,
                     plan_sha256=doc.resource_plan.sha256, stack=doc.stack.name,
                     stack_fingerprint=doc.stack.fingerprint,
                     changes=tuple(ExpectedChange(c.urn, c.op, tuple(c.changed)) for c in doc.changes),
                     created=doc.created, govcloud_version=doc.govcloud_version, verdict=doc.verdict, file=file)


def _locator(text: str, file: str):
    """path -> SourceLocation in the JSON text (JSON is YAML: the located YAML loader finds it)."""
    try:
        from govcloud.load.yamlsource import load_yaml_text

        doc = load_yaml_text(text, file)
    except Exception:  # noqa: BLE001 - a location is a courtesy; the problem is still reported
        doc = None

    def locate(path: tuple, *, key: bool = False) -> SourceLocation:
        if doc is not None:
            try:
                return doc.locate(path, key=key)
            except Exception:  # noqa: BLE001
                pass
        return SourceLocation(file, 1, 1)

    return locate


# ---------------------------------------------------------------- verify


def verify_plan(saved: SavedPlan, current_manifest_hash: str, current_plan_hash: str,
                current_stack_fingerprint: str, fresh_changes: Review | OperationResult | Iterable[ResourceChange], *,
                stack: str | None = None) -> None:
    """Raise PlanMovedError unless the manifest, the compiled plan, the stack and the fresh preview's
    changes are all exactly as saved (fail closed)."""
    moved: list[str] = []
    if stack is not None and stack != saved.stack:
        moved.append(f"the plan is for stack {saved.stack}, this manifest deploys {stack}")
    if current_manifest_hash != saved.manifest_sha256:
        moved.append(f"the manifest {saved.manifest} changed since the plan was made "
                     f"(sha256 {saved.manifest_sha256[:12]} -> {current_manifest_hash[:12]})")
    if current_plan_hash != saved.plan_sha256:
        moved.append("the compiled resource plan changed (a blueprint, the inventory, a template or the govcloud "
                     f"version; sha256 {saved.plan_sha256[:12]} -> {current_plan_hash[:12]})")
    if current_stack_fingerprint != saved.stack_fingerprint:
        moved.append(f"the stack {saved.stack} changed since the plan was made (another deploy, refresh or state "
                     f"edit: {_short_fp(saved.stack_fingerprint)} -> {_short_fp(current_stack_fingerprint)})")
    moved.extend(diff_changes(saved.changes, expected_changes(fresh_changes)))
    if moved:
        raise PlanMovedError(saved.file or "(plan)", moved)


def _short_fp(fp: str) -> str:
    if fp == NO_STACK:
        return "not deployed"
    head, _, digest = fp.rpartition(":")
    return f"{head}:{digest[:12]}" if head else digest[:12]


def diff_changes(saved: Iterable[ExpectedChange], fresh: Iterable[ExpectedChange]) -> list[str]:
    """How a fresh preview's changes differ from the saved ones, one line per resource ([] when equal)."""
    a = {c.urn: c for c in saved}
    b = {c.urn: c for c in fresh}
    out = []
    for urn in sorted(set(a) | set(b)):
        s, f = a.get(urn), b.get(urn)
        key = urn_parts(urn)[1]
        if f is None:
            out.append(f"{key}: the plan says {s.op}, the preview now leaves it unchanged")
        elif s is None:
            out.append(f"{key}: the preview now says {f.describe().split(' ', 1)[0]}"
                       + (f" ({', '.join(f.changed)})" if f.changed else "") + ", not in the plan")
        elif s.op != f.op:
            out.append(f"{key}: the plan says {s.op}, the preview now says {f.op}")
        elif s.changed != f.changed:
            out.append(f"{key}: the plan changes {', '.join(s.changed) or 'nothing'}, the preview now changes "
                       f"{', '.join(f.changed) or 'nothing'}")
    return out
