"""The offline half of the flow, file in, checked plan out.

load (safe YAML) -> blueprint merge -> schema (Manifest) -> references
(inventory) -> compile (ResourcePlan). Every stage raises InputError with
located problems; nothing here touches a cloud or the Pulumi engine.
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from govcloud.load.blueprints import Blueprints
from govcloud.plan.compile import compile_plan
from govcloud.config import ConfigRepo, find_config_repo
from govcloud.plan.cost import CostEstimate, estimate
from govcloud.errors import InputError, Problem
from govcloud.load.inventory import Agency, Inventory, Site, check_references
from govcloud.load.manifest import Manifest, parse_manifest
from govcloud.plan.model import ResourcePlan
from govcloud.load.yamlsource import Locator, load_yaml_file

if TYPE_CHECKING:
    from govcloud.policy.evaluate import PolicyReport


@dataclass(frozen=True)
class CheckedService:
    file: str
    manifest: Manifest
    site: Site
    agency: Agency
    locator: Locator
    config: ConfigRepo

    def compile(self) -> ResourcePlan:
        return compile_plan(self.manifest, self.site, self.agency, self.config, self.locator.locate, self.file)


class Workspace:
    """A config repo with its inventory and blueprints, shared by every file checked in one run."""

    def __init__(self, config: ConfigRepo | None = None):
        self.config = config or find_config_repo()
        self.inventory = Inventory(self.config)
        self.blueprints = Blueprints(self.config)

    @classmethod
    def for_paths(cls, paths: Iterable[str | os.PathLike[str]]) -> "Workspace":
        first = next(iter(paths), None)
        return cls(find_config_repo(Path(first) if first is not None else None))

    def check(self, path: str | os.PathLike[str]) -> CheckedService:
        doc = load_yaml_file(path)
        data, locator = self.blueprints.apply(doc)
        manifest = parse_manifest(data, locator.locate)
        site, agency = check_references(manifest, self.inventory, locator.locate)
        if manifest.spec.publish is not None:  # service levels and OpenAPI documents of the catalog entry
            from govcloud.catalog.references import check_publish

            check_publish(manifest, self.inventory, self.config, locator.locate, str(path))
        return CheckedService(str(path), manifest, site, agency, locator, self.config)

    def plan(self, path: str | os.PathLike[str]) -> ResourcePlan:
        return self.check(path).compile()

    def cost(self, path: str | os.PathLike[str]) -> tuple[ResourcePlan, CostEstimate]:
        checked = self.check(path)
        plan = checked.compile()
        return plan, estimate(plan, checked.site.rate_card)


def manifest_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files as given; directories searched recursively for *.yaml / *.yml.

    The walk keeps its own stack (a tree 1,100 levels deep is no RecursionError),
    does not follow symlinked directories (no loops), and yields a directory it
    cannot list instead of skipping it, so that loading it reports why.
    """
    for p in paths:
        path = Path(p)
        if not path.is_dir():
            yield path
            continue
        found: list[Path] = []
        pending = [path]
        while pending:
            d = pending.pop()
            try:
                with os.scandir(d) as entries:
                    for e in entries:
                        if e.is_dir(follow_symlinks=False):
                            pending.append(Path(e.path))
                        elif os.path.splitext(e.name)[1] in (".yaml", ".yml") and e.is_file():
                            found.append(Path(e.path))
            except OSError:
                found.append(d)
        yield from sorted(found)


@contextmanager
def batch_gc():
    """Hold Python's cycle collector off during batch work over many manifests.

    Checking a directory keeps every checked manifest and compiled plan alive
    (the cross-manifest policy rules need them all): hundreds of thousands of
    small, long-lived objects that every full collection walks again, which
    tripled the cost of checking 1,000 manifests (benchmarks/README.md).
    The work creates almost no cyclic garbage (reference counting frees the
    rest), so collection waits until the batch is done. Then the survivors
    are moved to the oldest generation without a collection (freeze, then
    unfreeze): otherwise the first young collection after the batch walks
    every object it made (about 0.1 s for 1,000 manifests), to find nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:  # someone else's frozen objects stay frozen
                gc.freeze()
                gc.unfreeze()
            gc.enable()


@dataclass(frozen=True)
class ValidationResult:
    file: str
    ok: bool
    problems: tuple[Problem, ...]
    plan: ResourcePlan | None = None


@dataclass(frozen=True)
class BlueprintOffer:
    """What a blueprint creates and costs per month at one site."""

    name: str
    description: str
    site: str
    resources: dict[str, int]  # kind -> count
    monthly: str | None  # total, or None where the blueprint does not fit the site
    currency: str
    problem: str | None = None

    def creates_text(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.resources.items()) if self.resources else "-"

    def monthly_text(self) -> str:
        return f"{int(self.monthly):,} {self.currency}" if self.monthly else f"n/a ({self.problem})"

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "site": self.site,
                "resources": self.resources, "monthly": self.monthly, "currency": self.currency,
                "problem": self.problem}


def price_blueprints(ws: Workspace, site_name: str | None = None) -> list[BlueprintOffer]:
    """Compile each blueprint as a bare manifest at a site and price it."""
    from govcloud.plan.cost import money
    from govcloud.load.yamlsource import YamlDocument

    sites = ws.inventory.site_names()
    site_name = site_name or ("thr1" if "thr1" in sites else sites[0])
    site = ws.inventory.site(site_name)
    if site is None:
        from govcloud.errors import unknown_name

        raise InputError([unknown_name("site", site_name, sites)])
    agency = next((a for a in ws.inventory.registry.agencies if site_name in a.allowed_sites),
                  ws.inventory.registry.agencies[0])
    offers = []
    for name in ws.blueprints.names():
        bp = ws.blueprints.load(name)
        data = {"apiVersion": "govcloud/v1", "kind": "Service",
                "metadata": {"name": f"{name}-sample", "agency": agency.id, "environment": "prod",
                             "classification": "internal"},
                "spec": {"blueprint": name, "site": site_name, "network": {"cidr": "10.0.0.0/24"}}}
        try:
            import yaml

            doc = YamlDocument(f"<blueprint {name}>", data, yaml.compose("{}"))
            merged, locator = ws.blueprints.apply(doc)
            manifest = parse_manifest(merged, locator.locate)
            site_, agency_ = check_references(manifest, ws.inventory, locator.locate)
            plan = compile_plan(manifest, site_, agency_, ws.config, locator.locate)
        except InputError as exc:
            offers.append(BlueprintOffer(name, bp.description, site_name, {}, None, site.rate_card.currency,
                                         exc.problems[0].message))
            continue
        kinds: dict[str, int] = {}
        for r in plan.resources:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        total = estimate(plan, site.rate_card).total
        offers.append(BlueprintOffer(name, bp.description, site_name, kinds, str(money(total)),
                                     site.rate_card.currency))
    return offers



def check_paths(paths: Iterable[str | os.PathLike[str]], workspace: Workspace | None = None, *,
                context: Iterable[str | os.PathLike[str]] = ()) -> tuple[list[ValidationResult], "PolicyReport"]:
    """Load, compile and policy-check manifests (files or directories): one result per file, and the report.

    A result is `ok` when its file loads and compiles and has no mandatory
    finding left after exceptions; its `problems` are the load/compile
    problems or the policy findings as Problems (advisory ones as warnings,
    which do not make it fail). Manifests under `context` and under
    `settings.manifestDirs` of policies.yaml take part in cross-manifest
    rules (quotas, overlaps, duplicate names) without being reported on.
    policies.yaml itself, when among the paths, is skipped. Raises
    InputError for a broken policies.yaml or custom rule file.
    """
    with batch_gc():
        batch = _Batch(paths, workspace, context)
        results, report, _extra = batch.check(batch.files)
        return results, report


def validate_paths(paths: Iterable[str | os.PathLike[str]], workspace: Workspace | None = None, *,
                   context: Iterable[str | os.PathLike[str]] = (),
                   jobs: int | None = None) -> tuple[list[ValidationResult], "PolicyReport"]:
    """check_paths for callers that read the problems and the report, not the plans (`validate`,
    `policy check`): the same results and findings, in the same order, with no plan in the results.

    A batch of many manifests is checked in up to `jobs` processes (None: the CPUs this process may use;
    1: this process only), split so that the manifests of one group of a cross-manifest rule (one agency
    at one site, ...) are checked in the same process (`shares`); where the rules share no attribute a
    manifest names, or forking is not safe here (govcloud.fanout), it runs in this process alone."""
    with batch_gc():
        batch = _Batch(paths, workspace, context)
        split = None
        if len(batch.files) >= 2 * MIN_FILES_PER_PROCESS and jobs != 1:  # one file imports nothing more
            from govcloud.fanout import available_cpus, fan_out

            split = shares(batch.files, batch.rules, available_cpus() if jobs is None else jobs, batch.ws)
        if split is None:
            results, report, _extra = batch.check(batch.files)
            return [replace(r, plan=None) if r.plan is not None else r for r in results], report
        answers = fan_out(batch.check_share, split)
    from govcloud.policy.evaluate import PolicyReport, merge_findings

    by_file = {r.file: r for a in answers for r in a.results}
    context_built = set().union(*(a.context for a in answers))  # one built by several shares counts once
    report = PolicyReport(merge_findings([a.findings for a in answers]), list(batch.rules), batch.policy,
                          sum(a.services for a in answers), len(context_built))
    return [by_file[str(f)] for f in batch.files], report


@dataclass(frozen=True)
class ShareAnswer:
    """What one share of validate_paths sends back: plain data that pickles (no plans, no rules)."""

    results: list[ValidationResult]  # the share's files, in order
    findings: list  # its report's findings (govcloud.policy.evaluate.Finding), sorted
    services: int  # manifests checked and reported on
    context: list[str]  # real paths of the context manifests it built


MIN_FILES_PER_PROCESS = 64  # below this a fork and the pickled answer cost more than the share saves


def shares(files: list[Path], rules, jobs: int,
           workspace: Workspace | None = None) -> list[list[Path]] | None:
    """`files` in up to `jobs` shares for validate_paths, each group of every group rule within one share;
    None when one process should do it all: `jobs` or the batch too small, or group rules with no
    attribute in common that a file names.

    Every group rule groups by ServiceContext attributes; those all rules have in common and load.peek
    can read from a file's first lines (the agency, for the built-in rules) decide the share: the files
    naming one agency go together, the largest agencies first into the share with the fewest files, and
    the smallest share first. A file peek cannot tell for sure (no plain string there, a YAML error,
    not a mapping) is checked here (`workspace`): its group is then what the check says, and a file
    that fails its check is in no group and goes anywhere (its share checks it again and reports it)."""
    from govcloud.load.peek import KEYS, peek_file
    from govcloud.policy.core import grouping_keys

    count = min(jobs, len(files) // MIN_FILES_PER_PROCESS)
    if count < 2:
        return None
    groupings = [set(r.group_by) for r in rules if r.scope == "group"]
    if not groupings:  # nothing looks across manifests: any split, in file order
        size = -(-len(files) // count)
        return [files[i:i + size] for i in range(0, len(files), size)]
    common = sorted(set.intersection(*groupings) & set(KEYS.values()))
    if not common:
        return None
    ws = workspace or Workspace.for_paths(files)

    def enough(keys: dict[str, str]) -> bool:
        return all(k in keys for k in common)

    def group_of(f: Path) -> tuple[str, ...] | None:
        keys = peek_file(f, enough=enough)
        if keys is None or not enough(keys):
            try:
                keys = grouping_keys(ws.check(f))
            except InputError:
                return None
        return tuple(keys[k] for k in common)

    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(group_of(f), []).append(i)
    bins: list[list[int]] = [[] for _ in range(count)]
    for _key, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        min(bins, key=len).extend(members)
    # the smallest share first: fan_out checks it in this process, which then merges and prints
    split = [[files[i] for i in sorted(b)] for b in sorted(bins, key=len) if b]
    return split if len(split) > 1 else None


class _Batch:
    """One run of check_paths: the workspace, the policy pack, and the manifests to check, each once."""

    def __init__(self, paths, workspace, context):
        from govcloud.policy import load_policy_config, load_rules  # the policy pack loads when it runs

        paths = list(paths)
        self.ws = ws = workspace or Workspace.for_paths(paths)
        self.rules = load_rules(ws.config)
        self.policy = load_policy_config(ws.config, [r.id for r in self.rules], ws.inventory)
        self.skip = {os.path.realpath(self.policy.file)} if self.policy.file else set()
        self.seen: set[str] = set()
        self._real_dirs: dict[str, str] = {}
        self.context = [Path(p) for p in context]
        self.files = [f for f, _real in self._unseen(manifest_files(paths))]

    def _real_path(self, f: Path) -> str:
        """f.resolve() as a string, resolving each directory once: a file that is not a symlink is its real
        directory's entry (a directory of 1,000 manifests costs 1,000 lstat calls instead of 1,000 whole
        resolves). Strings, not Paths: pathlib's parts and hashing cost more than the lstat."""
        path = os.fspath(f)
        head, tail = os.path.split(path)
        if tail in ("", ".", "..") or os.path.islink(path):
            return os.path.realpath(path)
        parent = self._real_dirs.get(head)
        if parent is None:
            parent = self._real_dirs[head] = os.path.realpath(head or ".")
        return os.path.join(parent, tail)

    def _unseen(self, files):
        """Each manifest once (a file named twice, or also in a context dir), never policies.yaml."""
        for f in files:
            real = self._real_path(f)
            if real not in self.skip and real not in self.seen:
                self.seen.add(real)
                yield f, real

    def check(self, files: list[Path]) -> tuple[list[ValidationResult], "PolicyReport", list[str]]:
        """The results of `files` (in order), the report, and the real paths of the context manifests built."""
        from govcloud.policy import evaluate

        ws, rules, policy = self.ws, self.rules, self.policy
        results: list[ValidationResult] = []
        checked = []
        for f in files:
            try:
                svc = ws.check(f)
                plan = svc.compile()
            except InputError as exc:
                results.append(ValidationResult(str(f), False, exc.problems))
                continue
            results.append(ValidationResult(str(f), True, (), plan))
            checked.append((svc, plan))

        extra, extra_real = [], []
        dirs = list(self.context)
        if ws.config.root is not None:
            dirs += [ws.config.root / d for d in policy.settings.manifest_dirs]
        wanted = context_filter(rules, checked)
        for f, real in self._unseen(manifest_files(d for d in dirs if d.exists())):
            if not wanted(f):
                continue  # it cannot share a group with a checked manifest: not built (load/peek.py says why)
            try:
                svc = ws.check(f)
                extra.append((svc, svc.compile()))
                extra_real.append(real)
            except InputError:
                continue  # a broken manifest is reported when it is itself checked

        report = evaluate(checked, ws.config, rules=rules, policy=policy, context=extra)
        merged = []
        for r in results:
            if r.ok:
                found = report.for_file(r.file)
                if found:
                    r = replace(r, ok=not any(f.blocking for f in found), problems=tuple(report.problems(r.file)))
            merged.append(r)
        return merged, report, extra_real

    def check_share(self, files: list[Path]) -> ShareAnswer:
        """check() of one share for validate_paths, as plain data."""
        results, report, context_built = self.check(files)
        return ShareAnswer([replace(r, plan=None) if r.plan is not None else r for r in results],
                           report.findings, report.services, context_built)


def context_filter(rules, checked) -> Callable[[Path], bool]:
    """Whether a context manifest may share a group of a group rule with one of the `checked` services.

    Each group rule groups services by ServiceContext attributes (agency, site, environment); the
    neighbour's are peeked from its first lines (load.peek), and an attribute it does not name
    for sure matches every group, as does a rule grouping by anything peek cannot tell."""
    from govcloud.load.peek import KEYS, peek_file
    from govcloud.policy.core import grouping_keys

    groupings = {tuple(r.group_by) for r in rules if r.scope == "group"}
    if not groupings:
        return lambda path: False  # no rule looks across manifests: the context changes nothing
    known = set(KEYS.values())
    if any(not set(g) <= known for g in groupings):
        return lambda path: True
    ours = [grouping_keys(svc) for svc, _plan in checked]

    def shares(keys: dict[str, str]) -> bool:
        return any(all(keys.get(a, mine[a]) == mine[a] for a in g) for g in groupings for mine in ours)

    def wanted(path: Path) -> bool:
        keys = peek_file(path, enough=lambda keys: not shares(keys))
        return keys is not None and shares(keys)

    return wanted


@dataclass(frozen=True)
class CheckedPlan:
    """One manifest checked for a command that acts on it (plan, cost, diff, deploy, destroy, ...)."""

    workspace: Workspace
    file: str
    plan: ResourcePlan
    cost: CostEstimate
    problems: tuple[Problem, ...]  # what is left after the check: advisory policy findings (warnings)
    policy: object = None  # the govcloud.policy.PolicyReport of the check

    @property
    def site(self) -> Site:
        return self.workspace.inventory.site(self.plan.service.site)


def policy_context(ws: Workspace, file: str | os.PathLike[str]) -> list[Path]:
    """Manifests that share quotas and address space with `file`: the config repo's manifests/ when it has
    one, else the file's own directory."""
    if ws.config.root is not None and (ws.config.root / "manifests").is_dir():
        return [ws.config.root / "manifests"]
    return [Path(file).parent]


def check_manifest(file: str | os.PathLike[str], workspace: Workspace | None = None) -> CheckedPlan:
    """Load, compile and policy-check one manifest: the offline gate of every command that acts on one.

    The same check as `govcloud validate` (check_paths), with the manifest's neighbours as
    the policy context. InputError (exit 1) for problems or a mandatory finding; warnings are returned.
    """
    ws = workspace or Workspace.for_paths([file])
    (result,), report = check_paths([file], ws, context=policy_context(ws, file))
    if not result.ok:
        raise InputError(result.problems)
    plan = result.plan
    return CheckedPlan(ws, str(file), plan, estimate(plan, ws.inventory.site(plan.service.site).rate_card),
                       tuple(result.problems), report)
