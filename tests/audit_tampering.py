"""Each kind of tampering with the audit log, as a case: what is done to a log of four records (two stacks,
each with its head kept outside the log), what `verify_audit` must then report, and where.

tests/unit/test_audit_chain.py asserts every case; benchmarks/reliability.py runs them for the figures of
docs/reliability.md (the same cases, so the document counts what the suite proves).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from govcloud.config import ConfigRepo
from govcloud.ops import audit, auditheads
from govcloud.ops.auditchain import GENESIS, AuditHead, ChainReport, record_hash

STACKS = ("govcloud-moe/citizen-portal-dev", "govcloud-moh/patient-portal-prod")


class MemoryHeads:
    """A head store in memory (the real one is the stacks' state: auditheads.StackTagHeads)."""

    def __init__(self):
        self.heads: dict[str, AuditHead] = {}

    def where(self, stack):
        return f"the state of stack {stack}"

    def read(self, stack):
        return self.heads.get(stack)

    def write(self, stack, head):
        self.heads[stack] = head
        return None


@dataclass(frozen=True)
class Tampering:
    name: str
    tamper: Callable[[list[str], MemoryHeads], list[str]]  # the log's lines -> the tampered lines
    kind: str  # the break verify must report first
    line: int  # at this line
    says: str  # in this message


def _edit(i: int, **changes) -> Callable[[list[str], MemoryHeads], list[str]]:
    def tamper(lines, heads):
        rec = json.loads(lines[i])
        rec.update(changes)
        return lines[:i] + [json.dumps(rec, separators=(",", ":"))] + lines[i + 1:]
    return tamper


def _by_hand(lines, heads):
    forged = json.loads(lines[-1])
    del forged["seq"], forged["prev"]
    return lines + [json.dumps(forged)]


def _recomputed(lines, heads):
    objs = [json.loads(line) for line in lines]
    objs[0]["result"] = "failed"
    prev = GENESIS
    for o in objs:  # an attacker who knows the scheme recomputes every link
        o["prev"] = prev
        prev = record_hash(o)
    return [json.dumps(o) for o in objs]


def _moved_head(lines, heads):
    heads.heads[STACKS[0]] = AuditHead(3, "f" * 64)
    return lines


TAMPERINGS: tuple[Tampering, ...] = (
    Tampering("a record changed", _edit(1, result="failed"), "changed", 2, "record #2 was changed"),
    Tampering("a record removed", lambda ls, h: ls[:1] + ls[2:], "removed", 2,
              "record #2 was removed between line 1 and this one"),
    Tampering("the first records removed", lambda ls, h: ls[2:], "removed", 1,
              "record #1 to #2 was removed before this line"),
    Tampering("two records swapped", lambda ls, h: [ls[0], ls[2], ls[1], ls[3]], "reordered", 2,
              "record #3 belongs after #2, which comes later at line 3"),
    Tampering("a record copied further down", lambda ls, h: ls[:3] + [ls[1]] + ls[3:], "reordered", 4,
              "names #1 (line 1) as its predecessor, not #3 (line 3)"),
    Tampering("a record appended by hand without a hash", _by_hand, "unchained", 5, "added by hand"),
    Tampering("a record inserted by hand", lambda ls, h: ls[:2] + [json.dumps(
        {"v": 1, "time": "2026-01-01T00:00:00Z", "operation": "deploy", "stack": STACKS[0], "result": "ok"})]
        + ls[2:], "unchained", 3, "added by hand"),
    Tampering("a record's number changed", _edit(2, seq=7), "changed", 3, "its number was changed"),
    Tampering("the end of the log cut off", lambda ls, h: ls[:-1], "head", 3,
              "records were removed from the end of the log"),
    Tampering("the log rewritten with every hash recomputed", _recomputed, "head", 3,
              "the hashes after it recomputed"),
    Tampering("the head moved", _moved_head, "head", 3, "does not match the head"),
)


def write_log(config: ConfigRepo, heads: MemoryHeads, n: int = 4) -> Path:
    """n records, alternating between two stacks, each head kept as a real run keeps it."""
    for i in range(n):
        audit.record_operation(config, operation="deploy", stack=STACKS[i % 2], result="ok",
                               manifest=f"m{i}.yaml", heads=heads)
    return audit.audit_path(config)


def run_case(case: Tampering, config: ConfigRepo) -> ChainReport:
    """A fresh log in the config's state directory, tampered with as the case says, then verified."""
    heads = MemoryHeads()
    path = write_log(config, heads)
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in case.tamper(lines, heads)))
    return auditheads.verify_audit(config, heads=heads)


def detected(case: Tampering, report: ChainReport) -> bool:
    """The first break is the case's kind, at its line, saying what it says."""
    return bool(report.breaks) and (report.breaks[0].kind, report.breaks[0].line) == (case.kind, case.line) \
        and case.says in report.breaks[0].message
