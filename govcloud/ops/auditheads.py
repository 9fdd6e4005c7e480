"""Where the audit log's head is kept outside the log, and `govcloud audit verify` over both.

The hash chain (ops/auditchain.py) shows a record changed, removed or reordered inside the log, but not the
log's end cut off, nor a log rewritten with every hash recomputed. So after each record the chain's head (seq
and hash of the record just written) is handed to a `HeadStore`, kept where the agency's CI cannot rewrite it
together with the log, and `verify_audit` compares each stored head with the record of its seq.

`StackTagHeads` keeps it in the stack's state: the tag `govcloud:audit-head` (`<seq>:<sha256>`) of the stack in
its Pulumi backend, written by every govcloud run that records an operation of the stack (a run refused before
the stack existed has no state to write to). The backend is not the state directory that holds the log: with a
ministry backend (s3://, postgres://, a directory per agency: docs/isolation.md) rewriting both takes write
access to two places.

With a shared database (docs/scale.md) the log is its table `govcloud_audit`, one chain for every machine,
which a trigger keeps append-only: no govcloud role can change a row or cut the end off, so the table keeps its
own head, and the heads in the stacks' state are compared with it as with the file. `verify_audit` there also
says whether the append-only guard is in place (a trigger dropped or disabled is a break: rows may have changed
while it was off).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Protocol

from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError
from govcloud.ops.auditchain import AuditHead, ChainBreak, ChainReport, HeadCheck, verify_chain, verify_records

HEAD_TAG = "govcloud:audit-head"


class TaggedStack(Protocol):
    """A stack whose backend keeps tags: the engine seam's Engine, or the Pulumi CLI of a stack."""

    def exists(self) -> bool: ...

    def tags(self) -> dict[str, str]: ...

    def set_tag(self, name: str, value: str) -> None: ...


class HeadStore(Protocol):
    def where(self, stack: str) -> str:
        """Where the stack's head is kept, for messages ("the state of stack govcloud-moe/portal-dev")."""

    def read(self, stack: str) -> AuditHead | None:
        """The head kept for the stack (None: none was kept). GovcloudError when the store cannot be read."""

    def write(self, stack: str, head: AuditHead) -> str | None:
        """Keep the head; a problem as text (never raised: the operation is done and recorded already)."""


class StackTagHeads:
    """Heads as a tag of each stack in its backend. `stacks`: those already at hand (the running workflow's
    engine); any other is reached through its own Pulumi CLI."""

    def __init__(self, config: ConfigRepo, stacks: Mapping[str, TaggedStack] | None = None):
        self.config = config
        self._stacks = dict(stacks or {})

    def _cli(self, stack: str) -> TaggedStack:
        if stack not in self._stacks:
            from govcloud.engine.command import PulumiCli
            from govcloud.engine.stack import locate_stack

            self._stacks[stack] = PulumiCli(locate_stack(stack, self.config))
        return self._stacks[stack]

    def where(self, stack: str) -> str:
        return f"the state of stack {stack}"

    def read(self, stack: str) -> AuditHead | None:
        cli = self._cli(stack)
        if not cli.exists():
            return None
        return AuditHead.from_text(cli.tags().get(HEAD_TAG, ""))

    def write(self, stack: str, head: AuditHead) -> str | None:
        try:
            cli = self._cli(stack)
            if cli.exists():
                cli.set_tag(HEAD_TAG, head.to_text())
        except (GovcloudError, ValueError) as exc:
            return f"the audit log's head {head.short()} could not be kept in {self.where(stack)}: {exc}"
        return None


def heads_for(config: ConfigRepo, stacks: Mapping[str, TaggedStack] | None = None) -> HeadStore:
    """The head store of this config repo: the stacks' state (also with a shared database, whose append-only
    table is the log). `stacks`: stacks already at hand by name (a workflow's engine)."""
    return StackTagHeads(config, stacks)


def logged_stacks(config: ConfigRepo) -> list[str]:
    """The stacks the audit log has records of, in order of their first record."""
    from govcloud.ops.audit import read_audit

    return list(dict.fromkeys(r.stack for r in read_audit(config)))


def verify_audit(config: ConfigRepo, stack: str | None = None, heads: HeadStore | None = None) -> ChainReport:
    """The audit log's chain checked, and the heads kept for its stacks (only `stack`'s when given) compared
    with it. A head that cannot be read is reported as such (the chain is still checked)."""
    from govcloud.ops.audit import audit_path
    from govcloud.shared.db import shared_database

    store = heads or heads_for(config)
    found: dict[str, AuditHead | str | None] = {}
    stacks = logged_stacks(config)
    if stack:  # a full name, or the stack alone (as `history` takes it)
        stacks = [s for s in stacks if stack in (s, s.rsplit("/", 1)[-1])] or [stack]
    for name in stacks:
        try:
            found[store.where(name)] = store.read(name)
        except (GovcloudError, ValueError) as exc:
            found[store.where(name)] = f"not readable: {exc}"
    db = shared_database(config)
    if db is None:
        return verify_chain(audit_path(config), found)
    from govcloud.shared import auditlog

    report = verify_records(auditlog.describe(db), auditlog.rows(db), found, unit="id")
    problem = auditlog.guard_problem(db)
    guard = HeadCheck("the append-only guard of the table", None, None if problem else True,
                      problem or "in place: UPDATE, DELETE and TRUNCATE are refused")
    breaks = (*report.breaks, ChainBreak("guard", 0, problem)) if problem else report.breaks
    return dataclasses.replace(report, heads=(*report.heads, guard), breaks=breaks)
