"""Stack results for people: outputs, drift, status and per-resource changes (stdout, plain text)."""
from __future__ import annotations

import click

from govcloud.engine import events as ev


def print_outputs(data: dict) -> None:
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


def print_deployed(res) -> None:
    """`deploy`: what it did and the stack's outputs."""
    if not res.applied:
        click.echo(f"{res.stack} is up to date: nothing to deploy")
        return
    click.echo(f"deployed {res.stack} in {res.result.duration:.1f} s: {ev.done_text(res.result.counts())}")
    print_outputs(dict(res.result.outputs))


def print_changes(result, *, verbose: bool = False, title: str | None = None, show_same: bool = False) -> None:
    """Per resource: op and changed fields."""
    if title:
        click.echo(title)
    rows = [c for c in result.changes if show_same or c.op not in ev.HIDDEN_OPS]
    for c in rows:
        shown = [f"{p}{' (forces replacement)' if p in c.replace_keys or any(q.path == p and q.replaces for q in c.properties) else ''}"
                 for p in c.changed]
        click.echo(f"  {ev.MARK.get(c.op, '?')} {c.op:<8} {c.key:<34} {c.kind:<20} {', '.join(shown)}".rstrip())
        if verbose:
            for p in c.properties:
                click.echo(f"        {p.path}: {ev.display(p.old)} -> {ev.display(p.new)}")
    counts = result.counts()
    total = sum(counts.values())
    if not rows:
        click.echo(f"  no changes ({total} resources unchanged)")
    else:
        words = {**ev.TO_DO, ev.Op.READ: "read", ev.Op.REFRESH: "refreshed"}  # what a preview already did
        click.echo(f"  {total} resources: " + ", ".join(f"{counts[op]} {words[op]}" for op in ev.COUNT_ORDER
                                                      if counts.get(op)))


def _short(value, limit: int = 60) -> str:
    """A drifted value as the review shows values; an empty text stays visible as ""."""
    from govcloud.review import show

    return show('""' if value == "" else value, limit)


def print_drift(res, file: str) -> None:
    """`refresh` in text: what changed outside govcloud and what to do about it."""
    if not res.drifted:
        click.echo(f"{res.stack}: no drift (every resource matches the cloud)")
        return
    click.echo(f"{res.stack}: changed outside govcloud" + (" (now recorded in the state)" if res.recorded else "")
               + ":")
    for r in res.unmanaged_rules:
        click.echo(f"  {r.secgroup_key:<34} {'SecGroup':<20} rule added outside govcloud: {r.describe()}")
    for c in res.drift:
        if c.op == "delete":
            click.echo(f"  {c.key:<34} {c.kind:<20} deleted in the cloud")
            continue
        click.echo(f"  {c.key:<34} {c.kind:<20} {', '.join(c.changed) or c.op}")
        for p in c.properties:
            click.echo(f"      {p.path}: {_short(p.old)} -> {_short(p.new)}")
    if res.drift:
        click.echo(f"run `govcloud deploy {file} --refresh` to bring them back to the manifest")
    if res.unmanaged_rules:
        click.echo("govcloud does not delete rules it did not create: add them to the manifest's "
                   "spec.network.ingress, or delete them (`openstack security group rule delete ID`)")


def print_status(st) -> None:
    click.echo(f"stack:      {st.stack}")
    click.echo(f"backend:    {st.backend}")
    if not st.exists:
        click.echo("deployed:   no (never deployed from this manifest)")
        return
    click.echo(f"resources:  {st.resources} deployed, {st.planned} in the manifest's plan")
    if st.missing:
        click.echo(f"            not deployed yet: {', '.join(st.missing)}")
    if st.extra:
        click.echo(f"            deployed but no longer in the manifest: {', '.join(st.extra)}")
    if st.last_operation:
        lo = st.last_operation
        click.echo(f"last:       {lo['kind']} {lo['result']} at {lo['end'] or lo['start']}")
    if st.pending_operations:
        click.echo(f"pending:    {st.pending_operations} operations of an interrupted or failed run (the next deploy "
                   f"repairs them)")
    for lk in st.locks:
        click.echo(f"lock:       {lk}")


def print_diff(res, fmt: str, *, show_same: bool = False) -> None:
    """`diff`: one review per stack (text, markdown or json); a failed preview's errors on stderr."""
    from govcloud import review
    from govcloud.cli.render import emit_json

    docs = []
    for s in res.stacks:
        if not s.ok:
            click.echo(f"error: preview of {s.stack} ({s.file}) failed:", err=True)
            for line in (s.result.error or "").splitlines():
                click.echo(f"  {line}", err=True)
            docs.append(review.failed_preview_json(s.stack, s.file, (s.result.error or "").splitlines()))
        elif fmt == "json":
            docs.append(s.review.to_json(show_same=show_same))
        elif fmt == "markdown":
            click.echo(review.render_markdown(s.review, config=s.config, show_same=show_same))
        else:
            review.print_review(s.review, show_same=show_same)
    if fmt == "json":
        emit_json(docs[0] if len(docs) == 1 else docs)
