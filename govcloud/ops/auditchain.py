"""The audit log's hash chain: a record changed, removed, reordered or added by hand shows where it happened.

Every record govcloud appends carries two fields besides its facts (ops/audit.py):

    seq    its place in the chain: 1, 2, 3 ...
    prev   the hash of the record before it (GENESIS, 64 zeros, for the first)

A record's hash is the sha256 (hex) of its canonical JSON: the line's JSON object, every key included (also
fields a newer govcloud added), keys sorted, no whitespace, UTF-8 (`canonical`). Changing any byte of a record's
meaning changes its hash, and the next record no longer names it; `verify_chain` walks the log once and names
the first record that breaks the chain, by file:line, and how:

    changed     the record's content is not what its successor names
    removed     records are missing (a gap in seq) between two lines, or before the first
    reordered   a record names a predecessor that comes later in the file, or one further back
    unchained   a record without seq/prev after the chain began: added by hand (govcloud writes them always)
    head        the chain does not reach, or does not match, a head kept outside the log

A chain alone cannot see its end cut off, nor a log rewritten with every hash recomputed (sha256 has no key).
So after each record the head (`AuditHead`: the last record's seq and hash) is also written where the agency's
CI cannot rewrite it together with the log: the stack's state in its backend (ops/auditheads.py). With a shared
database the log is its append-only table (govcloud/shared/auditlog.py), which no govcloud role can cut short
either; `verify_records` walks its rows as `verify_chain` walks the file's lines. Both compare every head they
are given with the record of that seq.

Records written before the chain existed (no seq/prev) are outside it: the chain starts at the first record
that has them, and the older ones are reported as unchained history, not as tampering. A line that is not a
JSON object (a torn write after a crash) is not part of the chain: it is reported, and the chain is checked
across it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from govcloud.errors import RefusedError

GENESIS = "0" * 64
CHAIN_KEYS = ("seq", "prev")
_TAIL_BLOCK = 64 * 1024


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The canonical JSON of a record: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


@dataclass(frozen=True)
class AuditHead:
    """The end of the chain as one record knows it: its seq and its hash."""

    seq: int
    hash: str

    def to_text(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def from_text(cls, text: str) -> "AuditHead | None":
        """A head as to_text wrote it; None for anything else (a head store holding garbage is no head)."""
        seq, sep, digest = str(text).strip().partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            return None
        return cls(int(seq), digest)

    def short(self) -> str:
        return f"#{self.seq} ({self.hash[:12]})"


def is_chained(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("seq"), int) and not isinstance(obj.get("seq"), bool) and isinstance(obj.get("prev"), str)


def next_link(last: AuditHead | None) -> dict[str, Any]:
    """The chain fields of the record that follows `last` (None: the chain begins)."""
    return {"seq": 1, "prev": GENESIS} if last is None else {"seq": last.seq + 1, "prev": last.hash}


def tail_head(fd: int) -> tuple[AuditHead | None, bool]:
    """(the head of the chain in the open file `fd`: its last chained record's seq and hash, whether the file ends
    with a newline). Reads backwards from the end, a block at a time, until it finds a chained record; a log
    without one is read to its start (once: the next record begins the chain)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None, True
    ends_with_newline = os.pread(fd, 1, size - 1) == b"\n"
    pos, carry = size, b""
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        block = os.pread(fd, pos - start, start) + carry
        pos = start
        lines = block.split(b"\n")
        carry = lines[0] if pos > 0 else b""  # the first piece may be the end of a line that starts earlier
        for raw in reversed(lines[1:] if pos > 0 else lines):
            obj = _json_object(raw)
            if obj is not None and is_chained(obj):
                return AuditHead(obj["seq"], record_hash(obj)), ends_with_newline
    return None, ends_with_newline


def _json_object(raw: bytes) -> dict | None:
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


# ---------------------------------------------------------------- verification


class ChainBroken(RefusedError):
    """The audit log's chain is broken: a record was changed, removed, reordered or added by hand (exit 1)."""


@dataclass(frozen=True)
class ChainBreak:
    kind: str  # changed | removed | reordered | unchained | head | guard (the shared table's append-only triggers)
    line: int  # the line named (0: the file's end)
    message: str
    seq: int | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "line": self.line, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class HeadCheck:
    """One head kept outside the log (`where`: e.g. "the state of stack govcloud-moe/portal-dev"), compared."""

    where: str
    head: AuditHead | None  # None: that store has no head (never written, or not readable)
    ok: bool | None  # None: nothing to compare
    note: str = ""

    def to_json(self) -> dict:
        return {"where": self.where, "head": self.head.to_text() if self.head else None, "ok": self.ok,
                "note": self.note}


@dataclass(frozen=True)
class ChainReport:
    file: str
    records: int  # lines that are JSON records
    unchained_history: int  # records before the chain began (written before it existed)
    chained: int
    head: AuditHead | None  # the last chained record's
    breaks: tuple[ChainBreak, ...] = ()  # the first break along the chain, then any head that does not match
    damaged: tuple[int, ...] = ()  # lines that are not JSON records (a torn write after a crash)
    heads: tuple[HeadCheck, ...] = ()
    first_line: int = 0  # the line of the chain's first record
    unit: str = ""  # how a position is named: "" file:line; "id" a row id of the shared database's table

    @property
    def ok(self) -> bool:
        return not self.breaks

    def raise_if_broken(self) -> "ChainReport":
        if self.breaks:
            raise ChainBroken(self.summary())
        return self

    def lines(self) -> list[str]:
        """The report for a terminal: the summary, every break, every head and what it says."""
        out = [self.summary()]
        out += [f"  {b.kind}: {self.where(b.line)}: {b.message}" for b in self.breaks[1:]]
        for h in self.heads:
            if h.head is None:  # nothing to compare: none kept there, or the store could not be read
                out.append(f"  {h.where}: {h.note}")
            else:
                out.append(f"  {h.where}: head {h.head.short()} {'matches' if h.ok else 'DOES NOT MATCH'}")
        if self.damaged:
            out.append(f"  lines that are not records (a torn write after a crash?): "
                       f"{', '.join(map(str, self.damaged[:10]))}" + (" ..." if len(self.damaged) > 10 else ""))
        return out

    def where(self, line: int) -> str:
        if not line:
            return self.file
        return f"{self.file} {self.unit} {line}" if self.unit else f"{self.file}:{line}"

    def summary(self) -> str:
        """One line: intact (how far, confirmed by how many heads) or the first break."""
        if self.breaks:
            b = self.breaks[0]
            return f"audit log chain broken at {self.where(b.line)}: {b.message}"
        if not self.chained:
            return (f"audit log {self.file}: no chained records yet ({self.unchained_history} older records "
                    f"without a hash)" if self.records else f"audit log {self.file}: empty")
        confirmed = [h for h in self.heads if h.ok]
        text = f"audit log {self.file}: chain intact, {self.chained} records (head {self.head.short()})"
        if confirmed:
            text += f", confirmed by {len(confirmed)} head{'s' if len(confirmed) != 1 else ''} kept outside the log"
        if self.unchained_history:
            text += f"; {self.unchained_history} older records before {self.unit or 'line'} {self.first_line} carry no hash"
        return text

    def to_json(self) -> dict:
        return {"file": self.file, "ok": self.ok, "records": self.records, "chained": self.chained,
                "unchainedHistory": self.unchained_history, "head": self.head.to_text() if self.head else None,
                "breaks": [b.to_json() for b in self.breaks], "damagedLines": list(self.damaged),
                "heads": [h.to_json() for h in self.heads]}


@dataclass
class _Member:
    line: int
    seq: int
    prev: str
    hash: str


@dataclass
class _Walk:
    file: str
    records: int = 0
    history: int = 0
    damaged: list[int] = field(default_factory=list)
    members: list[_Member] = field(default_factory=list)
    unchained_after: list[int] = field(default_factory=list)  # lines of unchained records inside the chain


def _walk(name: str, items: Iterable[tuple[int, Any]]) -> _Walk:
    """One pass over (line or row id, the record: a JSON object, anything else is damage)."""
    w = _Walk(name)
    for n, obj in items:
        if not isinstance(obj, dict):
            w.damaged.append(n)
            continue
        w.records += 1
        if is_chained(obj):
            w.members.append(_Member(n, obj["seq"], obj["prev"], record_hash(obj)))
        elif w.members:
            w.unchained_after.append(n)
        else:
            w.history += 1
    return w


def _file_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict | None]]:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        yield from ((n, _json_object(raw)) for n, raw in enumerate(f, 1) if raw.strip())


def _first_break(w: _Walk) -> ChainBreak | None:
    members = w.members
    if not members:
        return None
    line_of = {m.hash: i for i, m in enumerate(members)}
    first = members[0]
    if first.prev == GENESIS and first.seq != 1:
        return ChainBreak("changed", first.line, f"the chain's first record is numbered #{first.seq}, not #1",
                          first.seq)
    if first.prev != GENESIS:
        target = line_of.get(first.prev)
        if target is not None:
            later = members[target]
            return ChainBreak("reordered", first.line, f"record #{first.seq} belongs after #{later.seq}, which "
                              f"comes later at line {later.line}: records were reordered", first.seq)
        if first.seq > 1:
            gap = "#1" + (f" to #{first.seq - 1}" if first.seq > 2 else "")
            return ChainBreak("removed", first.line, f"record {gap} was removed before this line (the chain's "
                              f"first record left names a predecessor that is not in the log)", 1)
        return ChainBreak("changed", first.line, "the chain's first record names a predecessor: it was changed",
                          first.seq)
    unchained = iter(w.unchained_after)
    next_unchained = next(unchained, None)
    for i, m in enumerate(members):
        if next_unchained is not None and next_unchained < m.line:
            return ChainBreak("unchained", next_unchained, "a record without a chain hash (seq, prev) after the "
                              f"chain began at line {first.line}: added by hand, not by govcloud")
        if i == 0:
            continue
        before = members[i - 1]
        if m.prev == before.hash:
            if m.seq != before.seq + 1:
                return ChainBreak("changed", m.line, f"record #{m.seq} follows #{before.seq} (line {before.line}) "
                                  f"and names its hash: its number was changed", m.seq)
            continue
        target = line_of.get(m.prev)
        if target is not None and target > i:
            later = members[target]
            return ChainBreak("reordered", m.line, f"record #{m.seq} belongs after #{later.seq}, which comes later "
                              f"at line {later.line}: records were reordered", m.seq)
        if target is not None:
            earlier = members[target]
            return ChainBreak("reordered", m.line, f"record #{m.seq} names #{earlier.seq} (line {earlier.line}) as "
                              f"its predecessor, not #{before.seq} (line {before.line}) before it: records were "
                              f"inserted or reordered", m.seq)
        if m.seq == before.seq + 1:
            return ChainBreak("changed", before.line, f"record #{before.seq} was changed: #{m.seq} at line {m.line} "
                              f"names another hash for it", before.seq)
        if m.seq > before.seq + 1:
            gap = f"#{before.seq + 1}" + (f" to #{m.seq - 1}" if m.seq - 1 > before.seq + 1 else "")
            torn = [d for d in w.damaged if before.line < d < m.line]
            extra = f" (line {torn[0]}, which is not a record, may be what is left of it)" if torn else ""
            return ChainBreak("removed", m.line, f"record {gap} was removed between line {before.line} and this "
                              f"one{extra}", before.seq + 1)
        return ChainBreak("reordered", m.line, f"record #{m.seq} comes after #{before.seq} (line {before.line}) "
                          f"and names a predecessor that is not in the log: records were inserted or reordered",
                          m.seq)
    if next_unchained is not None:
        return ChainBreak("unchained", next_unchained, "a record without a chain hash (seq, prev) after the chain "
                          f"began at line {first.line}: added by hand, not by govcloud")
    return None


def _check_head(w: _Walk, where: str, head: AuditHead | str | None) -> tuple[HeadCheck, ChainBreak | None]:
    if head is None:
        return HeadCheck(where, None, None, "no head kept there (not deployed since the chain began)"), None
    if isinstance(head, str):  # why it could not be read
        return HeadCheck(where, None, None, head), None
    by_seq = {m.seq: m for m in w.members}
    last = w.members[-1] if w.members else None
    m = by_seq.get(head.seq)
    if m is None:
        end = f"ends at #{last.seq} (line {last.line})" if last else "has no chained record"
        return (HeadCheck(where, head, False),
                ChainBreak("head", last.line if last else 0, f"the log {end}, but {where} records head "
                           f"{head.short()}: records were removed from the end of the log (or the stack was "
                           f"deployed with another state directory's log)", head.seq))
    if m.hash != head.hash:
        return (HeadCheck(where, head, False),
                ChainBreak("head", m.line, f"record #{m.seq} does not match the head {where} records "
                           f"({head.hash[:12]}, the log's is {m.hash[:12]}): it or a record before it was changed "
                           f"and the hashes after it recomputed, or the head was moved", m.seq))
    return HeadCheck(where, head, True), None


def verify_chain(path: str | os.PathLike[str],
                 heads: Mapping[str, AuditHead | str | None] | None = None) -> ChainReport:
    """Walk the log once: the first break along the chain, and each head kept outside the log compared with the
    record of its seq (`heads`: where it is kept -> the head found there; None when none is kept there, a text
    when it could not be read)."""
    return verify_records(str(path), _file_lines(path), heads)


def verify_records(name: str, items: Iterable[tuple[int, Any]],
                   heads: Mapping[str, AuditHead | str | None] | None = None, unit: str = "") -> ChainReport:
    """verify_chain over records from anywhere: (position, record) in the log's order, `name` the log's.
    `unit`: how a position is named ("id": the shared database's row ids); positions are lines by default."""
    w = _walk(name, items)
    breaks = [b] if (b := _first_break(w)) is not None else []
    checks = []
    for where, head in (heads or {}).items():
        check, problem = _check_head(w, where, head)
        checks.append(check)
        if problem is not None:
            breaks.append(problem)
    last = w.members[-1] if w.members else None
    return ChainReport(w.file, w.records, w.history, len(w.members), AuditHead(last.seq, last.hash) if last else None,
                       tuple(breaks), tuple(w.damaged), tuple(checks), w.members[0].line if w.members else 0, unit)
