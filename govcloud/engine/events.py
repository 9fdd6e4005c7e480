"""govcloud's own parser of the Pulumi engine's raw event log.

The engine streams one JSON object per event (apitype.EngineEvent in
sdk/go/common/apitype/events.go): `sequence`, `timestamp` and exactly one
payload such as `resourcePreEvent`, `resOutputsEvent`, `resOpFailedEvent`,
`diagnosticEvent`, `summaryEvent`, `preludeEvent`, `cancelEvent`.
Step payloads carry `metadata` (StepEventMetadata): `op`, `urn`, `type`,
`provider`, `old`/`new` (StepEventStateMetadata: `inputs`, `outputs`, `id`,
`protect`, ...), `keys` (properties forcing a replacement), `diffs`
(changed top-level properties) and `detailedDiff` (property path ->
{diffKind, inputDiff}, or null when the provider gives no detailed diff).

The Automation API's own parser has broken on this more than once (the
`detailedDiff` key, a crash on null, unknown ops raise): this one never
raises on any JSON value. Unknown payloads become `UnknownEvent`, unknown ops
the op "unknown" with the raw op kept. Everything it returns is immutable.

Secrets never leave this module in clear: a secret value in the event
(`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
"plaintext"|"ciphertext": ...}`) is replaced by the marker `[secret]` while
parsing, so no record, repr or JSON output of it can hold the value.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Iterable, Mapping

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # a computed value a preview cannot know
SECRET = "[secret]"
UNKNOWN = "(known after deploy)"

# engine op -> govcloud op
_OPS = {
    "same": "same",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "read": "read",
    "read-replacement": "read",
    "refresh": "refresh",
    "discard": "discard",
    "discard-replaced": "discard",
    "remove-pending-replace": "delete",
    "import": "import",
    "import-replacement": "import",
}


class Op(StrEnum):
    """What the engine does (or would do) to one resource. A StrEnum: it compares equal to its text."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    SAME = "same"
    READ = "read"
    REFRESH = "refresh"
    IMPORT = "import"
    DISCARD = "discard"
    UNKNOWN = "unknown"


OPS = tuple(Op)
CHANGING_OPS = frozenset({Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE, Op.IMPORT, Op.DISCARD})
HIDDEN_OPS = frozenset({Op.SAME, Op.READ, Op.REFRESH})  # not listed in reviews unless asked (--show-same)
# the order resources are listed in (most dangerous first) and changes are counted in
LIST_ORDER = (Op.DELETE, Op.REPLACE, Op.UPDATE, Op.CREATE, Op.IMPORT, Op.DISCARD, Op.READ, Op.REFRESH, Op.UNKNOWN,
              Op.SAME)
COUNT_ORDER = (Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE, Op.IMPORT, Op.DISCARD, Op.READ, Op.REFRESH, Op.SAME,
               Op.UNKNOWN)
MARK = MappingProxyType({Op.CREATE: "+", Op.UPDATE: "~", Op.REPLACE: "±", Op.DELETE: "-", Op.IMPORT: "=",
                         Op.DISCARD: "-", Op.SAME: " ", Op.READ: ">", Op.REFRESH: "~", Op.UNKNOWN: "?"})
TO_DO = MappingProxyType({Op.CREATE: "to create", Op.UPDATE: "to update", Op.REPLACE: "to replace",
                          Op.DELETE: "to delete", Op.IMPORT: "to import", Op.DISCARD: "to forget", Op.READ: "to read",
                          Op.REFRESH: "to refresh", Op.UNKNOWN: "other", Op.SAME: "unchanged"})
DONE = MappingProxyType({Op.CREATE: "created", Op.UPDATE: "updated", Op.REPLACE: "replaced", Op.DELETE: "deleted",
                         Op.SAME: "unchanged", Op.READ: "read", Op.REFRESH: "refreshed", Op.IMPORT: "imported",
                         Op.DISCARD: "forgotten", Op.UNKNOWN: "done"})


def done_text(counts: Mapping[str, int]) -> str:
    """What an operation did, for people: "created 21, updated 1" (unchanged left out)."""
    return ", ".join(f"{DONE[op]} {counts[op]}" for op in COUNT_ORDER if op != Op.SAME and counts.get(op)) \
        or "no changes"


_URN_RE = re.compile(r"^urn:pulumi:(?P<stack>[^:]*)::(?P<project>[^:]*)::(?P<types>.*)::(?P<name>[^:]*)$")


# ---------------------------------------------------------------- values


def scrub(value: Any) -> Any:
    """A JSON value with every secret replaced by `[secret]` and made immutable (tuples, mapping proxies)."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return SECRET
        return MappingProxyType({str(k): scrub(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(scrub(v) for v in value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def plain(value: Any) -> Any:
    """A scrubbed value back as plain JSON types (for json.dumps)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def display(value: Any, limit: int = 80) -> str:
    """A short human rendering of a scrubbed value."""
    if value is None:
        return "-"
    if value == UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(plain(value), ensure_ascii=False, sort_keys=True, default=str)
        text = text.replace(json.dumps(UNKNOWN_VALUE), UNKNOWN)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PATH_TOKEN = re.compile(r'\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|([^.\[\]]+)')


def split_path(path: str) -> tuple[str | int, ...]:
    """`a.b[0]["c.d"]` -> ('a', 'b', 0, 'c.d'); unparseable text is one segment."""
    parts: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(path):
        if m.start() != pos and path[pos:m.start()] != ".":
            return (path,)
        idx, quoted, bare = m.groups()
        parts.append(int(idx) if idx is not None else (quoted.replace('\\"', '"') if quoted is not None else bare))
        pos = m.end()
    return tuple(parts) if parts and pos == len(path) else (path,)


def value_at(obj: Any, path: str) -> Any:
    """The value at a property path, or None when it is not there."""
    cur = obj
    for part in split_path(path):
        if isinstance(part, int) and isinstance(cur, tuple) and 0 <= part < len(cur):
            cur = cur[part]
        elif isinstance(part, str) and isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


# ---------------------------------------------------------------- records


def make_urn(stack: str, project: str, type_: str, name: str) -> str:
    """The URN the engine gives a top-level resource of a stack (govcloud's programs have no components)."""
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN; ('', urn) when it is not one."""
    m = _URN_RE.match(urn or "")
    if not m:
        return "", urn or ""
    return m.group("types").rsplit("$", 1)[-1], m.group("name")


@dataclass(frozen=True, slots=True)
class PropertyChange:
    path: str  # property path as the engine names it (Pulumi names: userData, tags[0])
    kind: str  # add | delete | update | add-replace | delete-replace | update-replace | changed
    old: Any = None  # scrubbed
    new: Any = None  # scrubbed

    @property
    def replaces(self) -> bool:
        return self.kind.endswith("-replace")

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "old": plain(self.old), "new": plain(self.new),
                "replaces": self.replaces}


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One resource's step in an engine operation."""

    urn: str
    key: str  # logical name (the plan key)
    type: str
    op: str  # one of OPS
    raw_op: str  # the engine's op
    changed: tuple[str, ...] = ()  # changed properties (detailedDiff paths, else diffs)
    properties: tuple[PropertyChange, ...] = ()
    replace_keys: tuple[str, ...] = ()  # properties that force the replacement
    id: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    detailed: bool = False  # changed came from detailedDiff (not just diffs)
    # the inputs the resource had before this step, scrubbed (None: the engine reported none, e.g. a create);
    # what the review prices and describes the deployed resource by
    old_inputs: Mapping[str, Any] | None = None

    @property
    def internal(self) -> bool:
        """The stack itself or a provider: not a cloud resource."""
        return self.type.startswith("pulumi:")

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    def to_json(self) -> dict:
        return {"urn": self.urn, "key": self.key, "type": self.type, "op": self.op, "engineOp": self.raw_op,
                "changed": list(self.changed), "replaceKeys": list(self.replace_keys),
                "properties": [p.to_json() for p in self.properties], "id": self.id,
                "protect": self.protect, "retainOnDelete": self.retain_on_delete}


@dataclass(frozen=True, slots=True)
class Step:
    """resourcePreEvent (phase 'pre'), resOutputsEvent ('done') or resOpFailedEvent ('failed')."""

    phase: str
    change: ResourceChange
    planning: bool = False
    sequence: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # error | warning | info | info#err | debug
    message: str
    urn: str = ""
    key: str = ""
    ephemeral: bool = False
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    result: str  # succeeded | failed | canceled | "" (older engines)
    changes: Mapping[str, int]  # engine op -> count
    duration_seconds: int = 0
    is_preview: bool = False
    maybe_corrupt: bool = False

    def count(self, *ops: str) -> int:
        return sum(n for op, n in self.changes.items() if _OPS.get(op, "unknown") in ops or op in ops)

    def to_json(self) -> dict:
        return {"result": self.result, "changes": dict(self.changes), "durationSeconds": self.duration_seconds,
                "isPreview": self.is_preview, "maybeCorrupt": self.maybe_corrupt}


@dataclass(frozen=True, slots=True)
class Cancel:
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class Other:
    """An event govcloud does not use (prelude, stdout, policy, progress, ...) or does not know."""

    kind: str
    sequence: int = 0


Event = Step | Diagnostic | Summary | Cancel | Other


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _strs(v: Any) -> tuple[str, ...]:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, (list, tuple)) else ()


def _props(state: Mapping, name: str) -> Any:
    v = state.get(name)
    return scrub(v) if isinstance(v, Mapping) else MappingProxyType({})


def parse_change(metadata: Any) -> ResourceChange:
    """A StepEventMetadata object (any JSON) -> ResourceChange."""
    md = metadata if isinstance(metadata, Mapping) else {}
    urn = _str(md.get("urn"))
    utype, key = urn_parts(urn)
    rtype = _str(md.get("type")) or utype
    raw_op = _str(md.get("op"))
    op = _OPS.get(raw_op, "unknown")
    old = md.get("old") if isinstance(md.get("old"), Mapping) else {}
    new = md.get("new") if isinstance(md.get("new"), Mapping) else {}
    old_inputs, old_outputs = _props(old, "inputs"), _props(old, "outputs")
    new_inputs, new_outputs = _props(new, "inputs"), _props(new, "outputs")

    def before(path: str) -> Any:
        v = value_at(old_inputs, path)
        return v if v is not None else value_at(old_outputs, path)

    def after(path: str) -> Any:
        v = value_at(new_inputs, path)
        return v if v is not None else value_at(new_outputs, path)

    detailed = md.get("detailedDiff")
    props: list[PropertyChange] = []
    if isinstance(detailed, Mapping) and detailed:
        for path, pd in sorted(detailed.items()):
            kind = _str(pd.get("diffKind")) if isinstance(pd, Mapping) else ""
            props.append(PropertyChange(str(path), kind or "changed", before(str(path)), after(str(path))))
        from_detailed = True
    else:
        keys = set(_strs(md.get("keys")))
        for path in sorted(set(_strs(md.get("diffs")))):
            props.append(PropertyChange(path, "update-replace" if path in keys else "update",
                                        before(path), after(path)))
        from_detailed = False
    state = new or old
    return ResourceChange(
        urn=urn, key=key, type=rtype, op=op, raw_op=raw_op,
        changed=tuple(p.path for p in props), properties=tuple(props), replace_keys=_strs(md.get("keys")),
        id=_str(new.get("id")) or _str(old.get("id")),
        protect=bool(state.get("protect")), retain_on_delete=bool(state.get("retainOnDelete")),
        detailed=from_detailed, old_inputs=old_inputs if isinstance(old.get("inputs"), Mapping) else None,
    )


def parse_event(raw: Any) -> Event:
    """One engine event (a dict or a JSON text line) -> a typed record; never raises."""
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            return Other("invalid-json")
    if not isinstance(raw, Mapping):
        return Other("invalid")
    seq = _int(raw.get("sequence"))
    ts = _int(raw.get("timestamp"))
    for name, phase in (("resourcePreEvent", "pre"), ("resOutputsEvent", "done"), ("resOpFailedEvent", "failed")):
        payload = raw.get(name)
        if isinstance(payload, Mapping):
            return Step(phase, parse_change(payload.get("metadata")), bool(payload.get("planning")), seq, ts)
    d = raw.get("diagnosticEvent")
    if isinstance(d, Mapping):
        urn = _str(d.get("urn"))
        return Diagnostic(_str(d.get("severity")) or "info", _str(d.get("message")), urn, urn_parts(urn)[1] if urn else "",
                          bool(d.get("ephemeral")), seq)
    s = raw.get("summaryEvent")
    if isinstance(s, Mapping):
        rc = s.get("resourceChanges")
        changes = {str(k): _int(v) for k, v in rc.items()} if isinstance(rc, Mapping) else {}
        return Summary(_str(s.get("result")), MappingProxyType(changes), _int(s.get("durationSeconds")),
                       bool(s.get("isPreview")), bool(s.get("maybeCorrupt")))
    if "cancelEvent" in raw:
        return Cancel(seq)
    kinds = [k for k in raw if k not in ("sequence", "timestamp")]
    return Other(kinds[0] if kinds else "empty", seq)


# ---------------------------------------------------------------- error messages

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[a-z]*%\}>")
_BRIDGE_PREFIX = re.compile(r"^\s*sdk-v2/provider2\.go:\d+:\s*sdk\.helper_schema:\s*")
_PROVIDER_SUFFIX = re.compile(r":\s*provider=[\w.@-]+\s*$")
_N_ERRORS = re.compile(r"^\s*(?:[\w-]+ urn:pulumi:\S+?:\s*)?\d+ errors? occurred:\s*", re.S)
_NOISE = re.compile(r"^(exception when preparing or executing rpc|RPC failed with exception|Traceback|"
                    r"Resource monitor has terminated)")
# the Python program's wrapping of a failed data source call (getNetwork): the provider's words are inside
_INVOKE = re.compile(r"^(?:python inline source runtime error|Exception calling application):\s*|"
                     r"invoke of \S+ failed: invocation of \S+ returned an error: invoking \S+:\s*")
_TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\):.*", re.S)
_PROTECTED = re.compile(r"because it is protected|currently marked for protection")
_GENERIC = re.compile(r"^(update|preview|destroy|refresh|import) failed$|^an unhandled error occurred|"
                      r"^python inline source runtime error", re.I)


def clean_error(message: str) -> list[str]:
    """An engine error diagnostic -> the provider's own words, one line per error, without bridge noise."""
    text = _TRACEBACK.sub("", _ANSI.sub("", message or "")).strip()  # a traceback is never the provider's word
    if not text or _NOISE.match(text):
        return []
    out: list[str] = []
    stack = [text]
    while stack:
        t = _INVOKE.sub("", _PROVIDER_SUFFIX.sub("", _BRIDGE_PREFIX.sub("", stack.pop(0))).strip())
        m = _N_ERRORS.match(t)
        if m:
            items = [i for i in re.split(r"\n\s*\*\s+", "\n" + t[m.end():]) if i.strip()]
            stack[:0] = [i.lstrip("* ").strip() for i in items]
            continue
        t = re.sub(r"\s+", " ", t).strip()
        if t and t not in out:
            out.append(t)
    return out


# ---------------------------------------------------------------- an operation's log


@dataclass
class EventLog:
    """Collects the events of one engine operation: the per-resource changes, diagnostics and the summary."""

    steps: list[Step] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    summary: Summary | None = None
    canceled: bool = False

    def add(self, event: Event | Any) -> Event:
        if not isinstance(event, (Step, Diagnostic, Summary, Cancel, Other)):
            event = parse_event(event)
        if isinstance(event, Step):
            self.steps.append(event)
        elif isinstance(event, Diagnostic):
            self.diagnostics.append(event)
        elif isinstance(event, Summary):
            self.summary = event
        elif isinstance(event, Cancel):
            self.canceled = True
        return event

    def extend(self, events: Iterable[Any]) -> "EventLog":
        for e in events:
            self.add(e)
        return self

    def changes(self, include_internal: bool = False) -> tuple[ResourceChange, ...]:
        """One change per resource, in the order the engine first reached it.

        A replacement's several steps (create-replacement, replace,
        delete-replaced) fold into one `replace`; the pre-event carries the
        diff, so the first step with changed properties wins for those.
        """
        merged: dict[str, ResourceChange] = {}
        for st in self.steps:
            if st.phase == "failed":
                continue
            c = st.change
            if not include_internal and c.internal:
                continue
            prev = merged.get(c.urn)
            if prev is None:
                merged[c.urn] = c
                continue
            op = prev.op
            if "replace" in (prev.op, c.op):
                op = "replace"
            elif prev.op in ("same", "refresh", "read") and c.op not in ("same", "unknown"):
                op = c.op
            props = prev.properties or c.properties
            merged[c.urn] = ResourceChange(
                urn=c.urn, key=c.key, type=c.type or prev.type, op=op,
                raw_op=prev.raw_op if op == prev.op else c.raw_op,
                changed=tuple(p.path for p in props), properties=props,
                replace_keys=prev.replace_keys or c.replace_keys, id=c.id or prev.id,
                protect=c.protect or prev.protect, retain_on_delete=c.retain_on_delete or prev.retain_on_delete,
                detailed=prev.detailed or c.detailed,
                old_inputs=prev.old_inputs if prev.old_inputs is not None else c.old_inputs)
        return tuple(merged.values())

    def failed(self) -> tuple[ResourceChange, ...]:
        return tuple(st.change for st in self.steps if st.phase == "failed")

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def error_messages(self) -> list[str]:
        """The provider's / engine's error messages, one per problem, resource ones first ("key: message")."""
        cleaned: list[tuple[str, str]] = []
        for d in sorted(self.errors(), key=lambda d: (not d.urn, d.sequence)):
            for text in clean_error(d.message):
                if (d.key, text) not in cleaned:
                    cleaned.append((d.key, text))
        specific = [c for c in cleaned if not _GENERIC.match(c[1])]
        kept = specific or cleaned
        return [f"{k}: {t}" if k else t for k, t in kept]

    def protection_blocked(self) -> tuple[str, ...]:
        """Keys of resources the engine would not delete or replace because they are protected."""
        return tuple(dict.fromkeys(d.key for d in self.errors() if d.key and _PROTECTED.search(d.message)))

    def other_errors(self) -> list[str]:
        """error_messages() without the protection ones (and without the generic 'failed' lines)."""
        return [m for m in self.error_messages() if not _PROTECTED.search(m) and not _GENERIC.match(m)]

    def counts(self) -> dict[str, int]:
        """govcloud op -> number of (non-internal) resources."""
        out: dict[str, int] = {}
        for c in self.changes():
            out[c.op] = out.get(c.op, 0) + 1
        return out
