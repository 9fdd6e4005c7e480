"""Stack commands: deploy, destroy, refresh, status, outputs, history, diff, unlock, doctor.

Only click is imported at module level: pulumi, openstacksdk and rich load
inside the commands that need them, so `govcloud --help` and `govcloud
validate` stay fast and never import the engine.

Exit codes: 0 ok; 1 invalid input, policy failure, a refusal (no
confirmation without a terminal, data loss without --allow-data-loss, prod
destroy without --confirm) or a missing prerequisite; 3 the engine failed
(the provider's message is printed, never a traceback). Data goes to stdout,
progress and messages to stderr.
"""
from __future__ import annotations

import sys
import time

import click

FORMAT = click.Choice(["text", "json"])
REVIEW_FORMAT = click.Choice(["text", "markdown", "json"])
_MARK = {"create": "+", "update": "~", "replace": "±", "delete": "-", "same": " ", "read": ">", "refresh": "~",
         "import": "=", "discard": "-", "unknown": "?"}
_PAST = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted", "same": "unchanged",
         "read": "read", "refresh": "refreshed", "import": "imported", "discard": "forgotten", "unknown": "done"}
_ORDER = ("create", "update", "replace", "delete", "import", "discard", "read", "refresh", "same", "unknown")


def done_text(counts) -> str:
    """What an operation did, for people: "created 21, updated 1" (unchanged left out)."""
    return ", ".join(f"{_PAST[op]} {counts[op]}" for op in _ORDER if op != "same" and counts.get(op)) or "no changes"


def register(cli: click.Group) -> None:
    for cmd in (deploy, destroy, refresh, status, outputs, history, diff, unlock, doctor):
        cli.add_command(cmd)


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _checked(file: str):
    """validate + policy + compile one manifest: (workspace, plan)."""
    from govcloud.cli import checked_plan

    ws, plan, _cost, _report = checked_plan(file)
    return ws, plan


def _checked_review(file: str):
    """validate + policy + compile one manifest: (workspace, plan, policy findings for the review)."""
    from govcloud.cli import checked_plan

    ws, plan, _cost, report = checked_plan(file)
    return ws, plan, report.problems(file)


# ---------------------------------------------------------------- progress


class Progress:
    """Live progress of an engine operation: a rich status line on a terminal, one quiet line per resource otherwise."""

    def __init__(self, title: str, total: int | None = None, verb: str = "deploying", lines: bool = True):
        self.lines = lines
        self.title = title
        self.total = total
        self.verb = verb
        self.tty = _is_tty(sys.stderr)
        self.start = time.monotonic()
        self.running: dict[str, tuple[str, float]] = {}
        self.finished: dict[str, str] = {}  # urn -> op (a replacement's several steps count once)
        self.failed: list[str] = []
        self.live = None

    def __enter__(self) -> "Progress":
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=True)
            self.live.__enter__()
        else:
            _err(f"{self.verb} {self.title} ...")
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def event(self, e) -> None:
        from govcloud.engine import events as ev

        if isinstance(e, ev.Step) and not e.change.internal:
            c = e.change
            if e.phase == "pre":
                if c.op not in ("same", "read", "refresh"):
                    self.running[c.urn] = (c.op, time.monotonic())
            elif e.phase == "done":
                op, t0 = self.running.pop(c.urn, (c.op, None))
                if self.finished.get(c.urn) != "replace":
                    self.finished[c.urn] = c.op
                if self.lines and not self.tty and c.op in ev.CHANGING_OPS:
                    took = f"{time.monotonic() - t0:5.1f}s" if t0 else ""
                    label = "deleted" if c.raw_op == "delete-replaced" else _PAST.get(c.op, c.op)
                    _err(f"  {label:<9} {c.key:<34} {c.kind:<20} {took}".rstrip())
            elif e.phase == "failed":
                self.running.pop(c.urn, None)
                self.failed.append(c.key)
                if self.lines and not self.tty:
                    _err(f"  failed    {c.key:<34} {c.kind}")
        if self.live is not None:
            self.live.update(self._render())

    def _render(self):
        from rich.text import Text

        elapsed = time.monotonic() - self.start
        done: dict[str, int] = {}
        for op in self.finished.values():
            done[op] = done.get(op, 0) + 1
        n = len(self.finished)
        head = Text(f"{self.verb} {self.title}  ", style="bold")
        head.append(f"{n}/{self.total} done" if self.total else f"{n} done")
        parts = [f"{_PAST[op]} {done[op]}" for op in _ORDER if done.get(op) and op != "same"]
        if self.failed:
            parts.append(f"failed {len(self.failed)}")
        if parts:
            head.append("  (" + ", ".join(parts) + ")")
        head.append(f"  {int(elapsed) // 60}:{int(elapsed) % 60:02d}")
        if self.running:
            now = time.monotonic()
            items = sorted(self.running.items(), key=lambda kv: kv[1][1])[:6]
            names = ", ".join(f"{u.rsplit('::', 1)[-1]} ({op} {now - t0:.0f}s)" for u, (op, t0) in items)
            more = len(self.running) - len(items)
            head.append(f"\n  working on: {names}" + (f" and {more} more" if more > 0 else ""), style="dim")
        return head


class _Timer:
    """Phase timings of a command, printed to stderr when GOVCLOUD_TIMINGS is set (benchmarks use it)."""

    def __init__(self):
        self.t0 = self.last = time.monotonic()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str, result=None) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self.last))
        self.last = now
        for k, v in (getattr(result, "timing", None) or {}).items():  # inside the engine child
            self.laps.append((f"{name}.{k}", v))

    def report(self) -> None:
        import os

        if os.environ.get("GOVCLOUD_TIMINGS"):
            parts = " ".join(f"{n}={t:.3f}" for n, t in self.laps)
            _err(f"timings: {parts} total={time.monotonic() - self.t0:.3f}")


# ---------------------------------------------------------------- rendering changes


def _counts_text(counts: dict[str, int]) -> str:
    words = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
             "same": "unchanged", "import": "to import", "discard": "to forget", "read": "read",
             "refresh": "refreshed", "unknown": "other"}
    return ", ".join(f"{counts[op]} {words[op]}" for op in _ORDER if counts.get(op))


def print_changes(result, *, verbose: bool = False, title: str | None = None, show_same: bool = False) -> None:
    """Per resource: op and changed fields (stdout)."""
    from govcloud.engine import events as ev

    if title:
        click.echo(title)
    rows = [c for c in result.changes if show_same or c.op not in ("same", "read", "refresh")]
    for c in rows:
        fields = ""
        if c.changed:
            shown = [f"{p}{' (forces replacement)' if p in c.replace_keys or any(q.path == p and q.replaces for q in c.properties) else ''}"
                     for p in c.changed]
            fields = ", ".join(shown)
        click.echo(f"  {_MARK.get(c.op, '?')} {c.op:<8} {c.key:<34} {c.kind:<20} {fields}".rstrip())
        if verbose:
            for p in c.properties:
                click.echo(f"        {p.path}: {ev.display(p.old)} -> {ev.display(p.new)}")
    counts = result.counts()
    total = sum(counts.values())
    if not rows:
        click.echo(f"  no changes ({total} resources unchanged)")
    else:
        click.echo(f"  {total} resources: {_counts_text(counts)}")


def _engine_failed(result) -> None:
    """Print the provider's error messages and exit 3 (or the right code for locks, setup, interrupts)."""
    from govcloud.errors import EngineError

    if result.ok:
        return
    if result.error_kind in ("locked", "setup"):
        result.raise_for_error()
    if result.error_kind == "interrupted":
        _err(f"error: {result.error}")
        sys.exit(EngineError.exit_code)
    _err(f"error: {result.op} of {result.stack} failed:")
    for line in (result.error or "").splitlines():
        _err(f"  {line}")
    if result.failed:
        _err(f"  failed resources: {', '.join(c.key for c in result.failed)}")
    if result.log_file:
        _err(f"  engine log: {result.log_file}")
    sys.exit(EngineError.exit_code)


def _recover(plan, config, lock, cli=None):
    """Clear what an interrupted run left (stale locks, pending operations) and refresh when needed.

    Returns the stack's deployment as found (None when it does not exist yet)."""
    from govcloud.engine.recovery import recover
    from govcloud.engine.runner import run_operation

    rec = recover(plan, config, cli)
    for note in rec.notes:
        _err(f"recovery: {note}")
    if rec.needs_refresh:
        _err("recovery: refreshing the state from the cloud ...")
        res = run_operation("refresh", plan, config, lock=lock, message="govcloud: recovery after an "
                                   "interrupted run")
        _engine_failed(res)
    return rec.deployment


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not _is_tty(sys.stdin):
        _err(f"refusing to {what}: stdin is not a terminal, so nobody can confirm; pass --yes to {what} "
             f"without asking (CI)")
        sys.exit(1)
    if not click.confirm(question, default=False, err=True):
        _err("nothing was changed")
        sys.exit(1)


# ---------------------------------------------------------------- deploy


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="apply without asking (CI); required when stdin is not a terminal")
@click.option("--allow-data-loss", is_flag=True,
              help="allow deleting or replacing volumes and buckets (they are protected otherwise)")
@click.option("--replace", "replace", multiple=True, metavar="KEY",
              help="replace this resource even if unchanged (e.g. a server whose user data changed); repeatable")
@click.option("--refresh", is_flag=True, help="refresh the state from the cloud before the preview")
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False), metavar="PLAN",
              help="apply exactly this saved plan (govcloud diff FILE --out PLAN); refused if the manifest, "
                   "the compiled plan, the stack or the preview moved since")
def deploy(file: str, yes: bool, allow_data_loss: bool, replace: tuple[str, ...], refresh: bool,
           plan_file: str | None) -> None:
    """Preview, guard and apply a manifest: exit 3 when the engine fails."""
    from govcloud.ops import audit
    from govcloud import review
    from govcloud.engine.locks import StackLock
    from govcloud.engine.runner import run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import locate, read_passphrase, unprotect, user_data_drift, volume_shrinks
    from govcloud.review import savedplan

    timer = _Timer()
    saved = savedplan.load_plan(plan_file) if plan_file else None
    ws, plan, findings = _checked_review(file)
    keys = plan.by_key()
    unknown = [k for k in replace if k not in keys]
    if unknown:
        raise click.UsageError(f"--replace: no resource {', '.join(unknown)} in the plan")
    passphrase = read_passphrase()
    loc = locate(plan, ws.config)
    timer.lap("check")
    with StackLock(loc, f"govcloud deploy {file}") as lock:
        cli = PulumiCli(loc, passphrase)
        deployment = _recover(plan, ws.config, lock, cli)
        timer.lap("state")
        forced = volume_shrinks(plan, deployment)
        replace = tuple(dict.fromkeys([*replace, *forced]))
        with Progress(loc.name, verb="previewing", lines=False) as p:
            preview = run_operation("preview", plan, ws.config, allow_data_loss=allow_data_loss,
                                           replace=replace, on_event=p.event, lock=lock, refresh_first=refresh,
                                           passphrase=passphrase)
        timer.lap("preview", preview)
        if not preview.blocked_only_by_protection:  # protected data: the guard below explains and refuses
            _engine_failed(preview)
        drift = [k for k in user_data_drift(plan, deployment) if k not in replace]
        rv = review.build_review(plan, ws.inventory.site(plan.service.site), preview, findings,
                                 allow_data_loss=allow_data_loss, user_data_drift=drift, forced=forced)
        review.print_review(rv)
        if saved is not None:
            try:
                savedplan.verify_plan(saved, savedplan.manifest_hash(file), savedplan.plan_hash(plan),
                                      savedplan.stack_fingerprint(deployment), preview, stack=loc.name)
            except savedplan.PlanMovedError as exc:
                audit.record_operation(ws.config, operation="deploy", stack=loc.name, result="refused",
                                       manifest=file, changes=preview, error="; ".join(exc.moved),
                                       plan_file=plan_file)
                raise
        risks = review.guard_data_loss(rv, plan, allow=allow_data_loss)  # DataLossError: exit 1
        if preview.blocked_only_by_protection and not risks:  # protected, but not a kind the guard knows
            _engine_failed(preview)
        if not preview.changing() and not replace:
            click.echo(f"{loc.name} is up to date: nothing to deploy")
            timer.report()
            return
        _confirm(f"Deploy these changes to {loc.name}?", yes, "deploy")
        if risks:
            urns = [c.urn for c in preview.changes if c.key in {r.key for r in risks}]
            unprotect(cli, urns)
        total = len(plan.resources)
        timer.lap("confirm")
        with audit.recording(ws.config, "deploy", file, loc.name, plan_file=plan_file or "",
                             allow_data_loss=allow_data_loss) as rec:
            with Progress(loc.name, total=total, verb="deploying") as progress:
                result = run_operation("up", plan, ws.config, allow_data_loss=allow_data_loss,
                                              replace=replace, on_event=progress.event, lock=lock,
                                              refresh_first=refresh, passphrase=passphrase,
                                              message=f"govcloud deploy {file}")
            rec.result(result)
            timer.lap("up", result)
            _engine_failed(result)
    click.echo(f"deployed {loc.name} in {result.duration:.1f} s: {done_text(result.counts())}")
    _print_outputs_text(dict(result.outputs))
    timer.report()


# ---------------------------------------------------------------- destroy


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="do not ask (not enough for prod: see --confirm)")
@click.option("--confirm", "confirm_name", metavar="STACK", help="the stack name, required to destroy a prod stack")
@click.option("--allow-data-loss", is_flag=True, help="also delete volumes and buckets (protected otherwise)")
def destroy(file: str, yes: bool, confirm_name: str | None, allow_data_loss: bool) -> None:
    """Delete every resource of a manifest's stack (guarded)."""
    from govcloud.ops import audit
    from govcloud import review
    from govcloud.engine.locks import StackLock
    from govcloud.engine.runner import run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import deployed_resources, locate, read_passphrase, unprotect

    ws, plan = _checked(file)
    read_passphrase()
    loc = locate(plan, ws.config)
    stack = plan.service.stack
    with StackLock(loc, f"govcloud destroy {file}") as lock:
        _recover(plan, ws.config, lock)
        cli = PulumiCli(loc, read_passphrase())
        dep = cli.export()
        resources = deployed_resources(dep)
        if not resources:
            click.echo(f"{loc.name} has no resources: nothing to destroy")
            return
        rv = review.build_review(plan, ws.inventory.site(plan.service.site), review.destroy_changes(dep),
                                 operation="destroy", allow_data_loss=allow_data_loss)
        review.print_review(rv)
        keep = review.guard_data_loss(rv, plan, allow=allow_data_loss, action=f"destroy {loc.name}")
        if plan.service.environment == "prod":
            if confirm_name != stack:
                _err(f"refusing to destroy the prod stack {stack}: pass --confirm {stack}")
                sys.exit(1)
        elif confirm_name is not None and confirm_name != stack:
            _err(f"--confirm {confirm_name} does not name this stack ({stack})")
            sys.exit(1)
        elif confirm_name is None:
            _confirm(f"Destroy stack {stack} and its {len(resources)} resources?", yes, f"destroy {stack}")
        if keep:
            unprotect(cli)
        with audit.recording(ws.config, "destroy", file, loc.name, allow_data_loss=allow_data_loss) as rec:
            with Progress(loc.name, total=len(resources), verb="destroying") as progress:
                result = run_operation("destroy", plan, ws.config, allow_data_loss=True,
                                              on_event=progress.event, lock=lock,
                                              message=f"govcloud destroy {file}")
            rec.result(result)
            _engine_failed(result)
    n = result.counts().get("delete", 0)
    click.echo(f"destroyed {loc.name} in {result.duration:.1f} s: deleted {n} resources")


# ---------------------------------------------------------------- refresh


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--check", is_flag=True,
              help="only report drift, record nothing; exit 1 when anything changed outside govcloud")
def refresh(file: str, fmt: str, check: bool) -> None:
    """Drift: read every resource back from the cloud and show what changed outside govcloud.

    Without --check the state records what was found (like `pulumi refresh`); with it nothing is written
    and the exit code says whether there is drift (0 none, 1 drift, 3 the engine failed), for CI."""
    from govcloud.engine.locks import StackLock
    from govcloud.engine.runner import run_operation
    from govcloud.engine.stack import locate, read_passphrase

    ws, plan = _checked(file)
    read_passphrase()
    loc = locate(plan, ws.config)
    op = "refresh-preview" if check else "refresh"
    with StackLock(loc, f"govcloud refresh {file}") as lock:
        if not check:  # a check writes nothing, not even a recovery
            _recover(plan, ws.config, lock)
        with Progress(loc.name, verb="checking" if check else "refreshing", lines=False) as progress:
            result = run_operation(op, plan, ws.config, on_event=progress.event, lock=lock,
                                          message=f"govcloud refresh {file}")
        _engine_failed(result)
    drift = drift_of(result)
    extra_rules = _unmanaged_rules(plan, loc)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"stack": loc.name, "recorded": not check, "drift": [c.to_json() for c in drift],
                   "unmanagedRules": [r.to_json() for r in extra_rules], "ok": True})
    elif not (drift or extra_rules):
        click.echo(f"{loc.name}: no drift (every resource matches the cloud)")
    else:
        click.echo(f"{loc.name}: changed outside govcloud" + ("" if check else " (now recorded in the state)") + ":")
        for r in extra_rules:
            click.echo(f"  {r.secgroup_key:<34} {'SecGroup':<20} rule added outside govcloud: {r.describe()}")
        for c in drift:
            if c.op == "delete":
                click.echo(f"  {c.key:<34} {c.kind:<20} deleted in the cloud")
                continue
            click.echo(f"  {c.key:<34} {c.kind:<20} {', '.join(c.changed) or c.op}")
            for p in c.properties:
                click.echo(f"      {p.path}: {_short(p.old)} -> {_short(p.new)}")
        if drift:
            click.echo(f"run `govcloud deploy {file} --refresh` to bring them back to the manifest")
        if extra_rules:
            click.echo("govcloud does not delete rules it did not create: add them to the manifest's "
                       "spec.network.ingress, or delete them (`openstack security group rule delete ID`)")
    if check and (drift or extra_rules):
        sys.exit(1)


def _unmanaged_rules(plan, loc) -> list:
    """Security group rules added by hand (drift a refresh cannot see); the engine error kind on failure."""
    from govcloud.cloud import drift
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import read_passphrase
    from govcloud.errors import GovcloudError

    try:
        return drift.unmanaged_rules_in_cloud(plan, PulumiCli(loc, read_passphrase()).export())
    except GovcloudError:
        raise
    except Exception as exc:  # noqa: BLE001 - the cloud's errors: fail closed, say which
        _err(f"error: could not list the security group rules of {loc.name}: {exc}")
        sys.exit(3)


def drift_of(result) -> list:
    """The resources a refresh (or its preview) found changed or gone in the cloud."""
    return [c for c in result.changes if c.op not in ("same", "refresh", "read") or c.changed]


def _short(value, limit: int = 60) -> str:
    """A drifted value as the review shows values; an empty text stays visible as ""."""
    from govcloud.review import show

    return show('""' if value == "" else value, limit)


# ---------------------------------------------------------------- diff


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=REVIEW_FORMAT, default="text", show_default=True)
@click.option("--parallel", type=int, default=None, help="previews run at once (default: CPU count)")
@click.option("--out", type=click.Path(dir_okay=False), metavar="PLAN",
              help="save the reviewed change as a plan file for `deploy --plan PLAN` (one manifest)")
@click.option("--show-same", is_flag=True, help="list unchanged resources too")
def diff(files: tuple[str, ...], fmt: str, parallel: int | None, out: str | None, show_same: bool) -> None:
    """The review of what deploy would change (a real preview): per resource its op, changed fields, why a
    replacement, cost before/after, data loss; as text, markdown (merge requests) or json (tools)."""
    from govcloud import review
    from govcloud.engine.runner import run_many, run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import locate, read_passphrase, user_data_drift, volume_shrinks
    from govcloud.errors import EngineError
    from govcloud.review import savedplan

    if out and len(files) != 1:
        raise click.UsageError("--out saves the plan of one manifest: give one FILE")
    checked = [_checked_review(f) for f in files]
    passphrase = read_passphrase()
    deployments = []
    for ws, plan, _f in checked:
        try:
            deployments.append(PulumiCli(locate(plan, ws.config), passphrase).export())
        except EngineError:
            deployments.append(None)
    forced = [volume_shrinks(plan, dep) for (_ws, plan, _f), dep in zip(checked, deployments)]
    if len(checked) == 1:
        ws, plan, _findings = checked[0]
        with Progress(locate(plan, ws.config).name, verb="previewing", lines=False) as p:
            results = [run_operation("preview", plan, ws.config, on_event=p.event, replace=tuple(forced[0]))]
    else:
        results = run_many([("preview", plan, ws.config, {"replace": tuple(f)})
                                   for (ws, plan, _f), f in zip(checked, forced)], parallel=parallel)
    docs = []
    bad = []
    for (ws, plan, findings), file, res, dep, shrinks in zip(checked, files, results, deployments, forced):
        loc = locate(plan, ws.config)
        if not (res.ok or res.blocked_only_by_protection):
            bad.append(res)
            _err(f"error: preview of {loc.name} ({file}) failed:")
            for line in (res.error or "").splitlines():
                _err(f"  {line}")
            docs.append({"schemaVersion": review.SCHEMA_VERSION, "kind": "govcloud.Review", "stack": loc.name,
                         "manifest": file, "ok": False, "errors": (res.error or "").splitlines()})
            continue
        rv = review.build_review(plan, ws.inventory.site(plan.service.site), res, findings,
                                 user_data_drift=user_data_drift(plan, dep), forced=shrinks)
        if out:
            savedplan.save_plan(out, manifest_path=file, plan=plan, stack=loc.name,
                                stack_fingerprint=savedplan.stack_fingerprint(dep), changes=rv)
            _err(f"saved the plan to {out}: `govcloud deploy {file} --plan {out}` applies exactly this change")
        if fmt == "json":
            docs.append(rv.to_json(show_same=show_same))
        elif fmt == "markdown":
            click.echo(review.render_markdown(rv, config=ws.config, show_same=show_same))
        else:
            review.print_review(rv, show_same=show_same)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json(docs[0] if len(docs) == 1 else docs)
    if bad:
        if all(r.error_kind in ("setup",) for r in bad):
            sys.exit(1)
        sys.exit(3)


# ---------------------------------------------------------------- status / outputs / history


def _cli_for(file: str, need_passphrase: bool = True):
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import locate, read_passphrase

    ws, plan = _checked(file)
    loc = locate(plan, ws.config)
    return ws, plan, loc, PulumiCli(loc, read_passphrase() if need_passphrase else None)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def status(file: str, fmt: str) -> None:
    """The stack of a manifest: deployed or not, resources, last operation, locks."""
    from govcloud.engine.locks import engine_locks
    from govcloud.engine.stack import deployed_resources
    from govcloud.engine import events as ev

    ws, plan, loc, cli = _cli_for(file, need_passphrase=False)
    dep = cli.export()
    resources = deployed_resources(dep)
    last = cli.history(1)[:1] if dep is not None else []
    locks = engine_locks(loc)
    pending = ((dep or {}).get("deployment") or {}).get("pending_operations") or []
    in_plan = {r.key for r in plan.resources}
    deployed = {ev.urn_parts(r.get("urn", ""))[1] for r in resources}
    data = {
        "stack": loc.name, "backend": loc.backend_url, "deployed": dep is not None and bool(resources),
        "resources": len(resources), "planned": len(plan.resources),
        "missing": sorted(in_plan - deployed), "extra": sorted(deployed - in_plan),
        "lastOperation": ({"kind": last[0].get("kind"), "result": last[0].get("result"),
                           "start": last[0].get("startTime"), "end": last[0].get("endTime"),
                           "changes": last[0].get("resourceChanges")} if last else None),
        "pendingOperations": len(pending),
        "locks": [lk.describe() for lk in locks],
    }
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json(data)
        return
    click.echo(f"stack:      {loc.name}")
    click.echo(f"backend:    {loc.backend_url}")
    if dep is None:
        click.echo("deployed:   no (never deployed from this manifest)")
        return
    click.echo(f"resources:  {len(resources)} deployed, {len(plan.resources)} in the manifest's plan")
    if data["missing"]:
        click.echo(f"            not deployed yet: {', '.join(data['missing'])}")
    if data["extra"]:
        click.echo(f"            deployed but no longer in the manifest: {', '.join(data['extra'])}")
    if last:
        lo = data["lastOperation"]
        click.echo(f"last:       {lo['kind']} {lo['result']} at {lo['end'] or lo['start']}")
    if pending:
        click.echo(f"pending:    {len(pending)} operations of an interrupted run (the next deploy repairs them)")
    for lk in locks:
        click.echo(f"lock:       {lk.describe()}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def outputs(file: str, fmt: str) -> None:
    """The stack outputs: servers with their IPs, network id, volumes, buckets."""
    from govcloud.errors import SetupError

    ws, plan, loc, cli = _cli_for(file)
    if not cli.exists():
        raise SetupError(f"{loc.name} is not deployed: run govcloud deploy {file}")
    data = cli.outputs()
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json(data)
        return
    _print_outputs_text(data)


def _print_outputs_text(data: dict) -> None:
    servers = data.get("servers") or {}
    for name, s in sorted(servers.items()):
        click.echo(f"  server  {name:<40} fixed {s.get('fixedIp') or '-':<15} "
                   f"public {s.get('floatingIp') or '-':<15} {s.get('id') or ''}")
    for name, v in sorted((data.get("volumes") or {}).items()):
        click.echo(f"  volume  {name:<40} on {v.get('server') or '-':<12} {v.get('id') or ''}")
    for b in data.get("buckets") or []:
        click.echo(f"  bucket  {b}")
    if data.get("networkId"):
        click.echo(f"  network {data['networkId']}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--audit", "from_audit", is_flag=True,
              help="only govcloud's audit log (also the runs refused before the engine), without the engine's")
def history(file: str, limit: int, fmt: str, from_audit: bool) -> None:
    """The stack's operations, newest first: the engine's update history joined with govcloud's audit log
    (who, from which git commit and manifest, with what result); runs refused before the engine too."""
    if from_audit:
        from govcloud.ops import audit
        from govcloud.engine.stack import locate

        ws, plan = _checked(file)
        name = locate(plan, ws.config).name
        records = audit.read_audit(ws.config, name, limit=limit)
        if fmt == "json":
            from govcloud.cli.render import emit_json

            emit_json([r.to_json() for r in reversed(records)])
        elif not records:
            click.echo(f"{name}: no deploys or destroys in the audit log ({audit.audit_path(ws.config)})")
        else:
            for line in audit.format_history(records):
                click.echo(line)
        return
    from govcloud.ops import audit

    ws, plan, loc, cli = _cli_for(file, need_passphrase=False)
    rows = cli.history(limit) if cli.exists() else []
    entries = audit.merge_history(rows, audit.read_audit(ws.config, loc.name))[:limit]
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json([e.to_json() for e in entries])
        return
    if not entries:
        click.echo(f"{loc.name}: no history (never deployed)")
        return
    for line in audit.format_merged_history(entries):
        click.echo(line)


# ---------------------------------------------------------------- unlock


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="remove every engine lock, even one this host cannot prove dead")
def unlock(file: str, force: bool) -> None:
    """Remove a stack's engine lock left by a killed run (live runs are never unlocked without --force)."""
    from govcloud.engine.locks import StackLock, clear_stale_engine_locks
    from govcloud.errors import StackLockedError

    ws, plan, loc, cli = _cli_for(file, need_passphrase=False)
    with StackLock(loc, f"govcloud unlock {file}"):
        if force:
            cli.cancel()
            click.echo(f"{loc.name}: every engine lock removed")
            return
        try:
            notes = clear_stale_engine_locks(loc)
        except StackLockedError as exc:
            _err(f"not unlocked: {exc}")
            sys.exit(1)
        for n in notes:
            click.echo(n)
        if not notes:
            click.echo(f"{loc.name}: not locked")


# ---------------------------------------------------------------- doctor


@click.command()
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="seconds to wait for each Keystone")
@click.option("--site", "sites", multiple=True, metavar="SITE",
              help="a site this machine must reach (its check becomes required); repeatable")
def doctor(fmt: str, timeout: float, sites: tuple[str, ...]) -> None:
    """Check what deploys need: Pulumi CLI, OpenStack plugin, backend, passphrase, cloud credentials per site."""
    from govcloud.doctor import run_checks
    from govcloud.check import Workspace

    checks = run_checks(Workspace(), timeout=timeout, sites=list(sites))
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"ok": all(c.ok or not c.required for c in checks), "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            click.echo(f"[{mark}] {c.name}: {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"       fix: {c.fix}")
    if any(not c.ok and c.required for c in checks):
        sys.exit(1)
