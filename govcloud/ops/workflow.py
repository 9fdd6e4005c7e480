"""What every stack workflow shares: the caller's hooks, the typed refusals, recovery, engine failures.

A workflow (deploy, destroy, refresh, diff) never prints and never exits: it
tells its caller what happens through `Hooks` (progress of each engine phase,
notes, the review before a confirmation, the confirmation itself) and ends with
a typed result or a typed exception. The CLI implements the hooks for a
terminal; a queue worker or a test passes its own (or none: `Hooks()` shows
nothing and confirms nothing, so only `yes=True` applies a change).
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

from govcloud.errors import EngineError, EngineInterrupted, RefusedError

if TYPE_CHECKING:  # the CLI imports this module at start-up: the engine's modules load when a workflow runs
    from govcloud.cloud.access import Access
    from govcloud.engine import events as ev
    from govcloud.engine.runner import OperationResult
    from govcloud.engine.seam import Engine
    from govcloud.engine.stack import StackState


class NotConfirmed(RefusedError):
    """Nobody confirmed the change (declined at the prompt, or no terminal to ask on and no --yes)."""


class ProdDestroyRefused(RefusedError):
    """A prod stack is destroyed only with its name given (`--confirm STACK`)."""


class EngineFailed(EngineError):
    """An engine operation failed: the provider's messages, the failed resources, which cloud API failed and
    how, what to do, and the engine log."""

    def __init__(self, result: OperationResult):
        self.result = result
        lines = [f"{result.op} of {result.stack} failed:"]
        lines += [f"  {line}" for line in (result.error or "").splitlines()]
        if result.failed:
            lines.append(f"  failed resources: {', '.join(c.key for c in result.failed)}")
        failures = api_failures(result.error or "")
        lines += [f"  failed API: {f.text}" for f in failures]
        lines.append(f"  what to do: {what_to_do(result.op, failures)}")
        if result.log_file:
            lines.append(f"  engine log: {result.log_file}")
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------- which cloud API failed, from the provider's words

# (path pattern, service): OpenStack's standard URL layouts (the provider names the URL, not the service)
_API_PATHS = (
    (re.compile(r"^/(?:identity/)?v3/(?:auth|users|projects|roles|domains|regions|services|endpoints|OS-)"),
     "identity (Keystone)"),
    (re.compile(r"^/(?:image/)?v2/(?:images|schemas)"), "image (Glance)"),
    (re.compile(r"^/(?:compute/)?v2(?:\.1)?/(?:[0-9a-f]{32}/)?(?:servers|flavors|os-|images|limits)"), "compute (Nova)"),
    (re.compile(r"^/(?:networking/)?v2\.0/"), "network (Neutron)"),
    (re.compile(r"^/(?:volume/)?v[23]/[0-9a-f]{32}/"), "block storage (Cinder)"),
    (re.compile(r"^/(?:swift/)?v1/AUTH_"), "object storage (Swift)"),
)
# gophercloud's words: "Expected HTTP response code [...] when accessing [POST url], but got 503 instead", or one
# of its older per-status errors ("Resource not found: [GET url], error message: ...")
_OLD_STATUS = {"Bad request with": 400, "Request forbidden": 403, "Resource not found": 404, "Method not allowed": 405}
_STATUS_CALL = re.compile(r"when accessing \[(?P<method>[A-Z]+) (?P<url>[^\]\s]+)\], but got (?P<status>\d{3})|"
                          r"(?P<old>" + "|".join(_OLD_STATUS) + r"):? \[(?P<method2>[A-Z]+) (?P<url2>[^\]\s]+)\]")
_CONN_CALL = re.compile(r"\b(?P<method>Get|Post|Put|Patch|Delete|Head) \"(?P<url>https?://[^\"]+)\": (?P<why>[^\n]*)")
_CONN_WHY = (("reset by peer", "the connection was reset"), ("connection refused", "the connection was refused"),
             ("deadline exceeded", "it did not answer in time"), ("timeout", "it did not answer in time"),
             ("EOF", "the connection closed without an answer"), ("no such host", "its host name is unknown"))
_REASON = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           413: "Request Entity Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class ApiFailure:
    """One failed call to a cloud API, as the provider's message names it."""

    service: str  # "compute (Nova)", or "the API at http://host:port"
    method: str
    url: str
    status: int | None = None  # None: the call got no HTTP answer
    why: str = ""  # what happened to the connection when there was no answer

    @property
    def transient(self) -> bool:
        """The cloud failed rather than refused: the same call may well succeed on the next run."""
        return self.status is None or self.status >= 500 or self.status == 429

    @property
    def text(self) -> str:
        if self.status is None:
            return f"{self.service}: {self.why} ({self.method} {self.url})"
        reason = _REASON.get(self.status, "")
        return f"{self.service} answered {self.status}{' ' + reason if reason else ''} to {self.method} {self.url}"


def api_service(url: str) -> str:
    """The OpenStack service a URL belongs to, by the standard path layouts; else 'the API at <origin>'."""
    m = re.match(r"^(https?://[^/]+)(/[^?#]*)?", url)
    origin, path = (m.group(1), m.group(2) or "/") if m else (url, "/")
    for pattern, service in _API_PATHS:
        if pattern.search(path):
            return service
    return f"the API at {origin}"


def api_failures(error: str) -> list[ApiFailure]:
    """The distinct failed API calls a provider's error text names (HTTP answers and lost connections)."""
    out: list[ApiFailure] = []
    for m in _STATUS_CALL.finditer(error):
        method, url = m.group("method") or m.group("method2"), m.group("url") or m.group("url2")
        status = int(m.group("status")) if m.group("status") else _OLD_STATUS[m.group("old")]
        out.append(ApiFailure(api_service(url), method, url, status))
    for m in _CONN_CALL.finditer(error):
        why = next((text for needle, text in _CONN_WHY if needle in m.group("why")), "no answer")
        out.append(ApiFailure(api_service(m.group("url")), m.group("method").upper(), m.group("url"), None, why))
    return list(dict.fromkeys(out))


def what_to_do(op: str, failures: list[ApiFailure]) -> str:
    again = ("run the same command again: govcloud recovers what an interrupted run left (pending creates are "
             "looked up in the cloud, the state is refreshed)")
    if op in ("preview", "refresh-preview"):
        again = "nothing was changed; run the same command again"
    if failures and all(f.transient for f in failures):
        names = ", ".join(dict.fromkeys(f.service for f in failures))
        return f"the cloud failed ({names}), it did not refuse: {again}. If it fails again, that API is down"
    if failures:
        return f"the cloud refused a request: fix what it says, then {again}"
    return f"fix what the message says if it is a mistake, then {again}"


def ensure_ok(result: OperationResult) -> OperationResult:
    """The result of an operation that must have succeeded; its typed error otherwise."""
    from govcloud.engine.runner import ErrorKind

    if result.ok:
        return result
    if result.error_kind in (ErrorKind.LOCKED, ErrorKind.SETUP):
        result.raise_for_error()
    if result.error_kind == ErrorKind.INTERRUPTED:
        raise EngineInterrupted(result.error or f"{result.op} was interrupted")
    raise EngineFailed(result)


class Hooks:
    """How a workflow talks to its caller. The defaults show nothing and confirm nothing."""

    @contextmanager
    def phase(self, verb: str, stack: str, total: int | None = None,
              lines: bool = True) -> Iterator[Callable[[ev.Event], None] | None]:
        """Around one engine operation ("previewing", "deploying", ...): yields its event callback."""
        yield None

    @contextmanager
    def verifying(self, stack: str) -> Iterator[Callable | None]:
        """Around `deploy --verify`'s SSH checks: yields the verify progress callback."""
        yield None

    def checked(self, checked) -> None:
        """The manifest passed the offline check (govcloud.check.CheckedPlan; its warnings in .problems)."""

    def note(self, text: str) -> None:
        """Something the user should know (recovery notes, where a plan was saved)."""

    def review(self, review) -> None:
        """The review of a change, before it is confirmed or refused."""

    def confirm(self, question: str, what: str) -> bool:
        """Ask before a change (`what` says it, e.g. "deploy"); False refuses it. Raise NotConfirmed to say why."""
        return False


@dataclass
class Timings:
    """Phase timings of a workflow (the CLI prints them when GOVCLOUD_TIMINGS is set; benchmarks read them)."""

    laps: list[tuple[str, float]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    last: float = 0.0

    def lap(self, name: str, result: OperationResult | None = None) -> None:
        now = time.monotonic()
        self.laps.append((name, now - (self.last or self.t0)))
        self.last = now
        for k, v in (result.timing if result is not None else {}).items():  # inside the engine child
            self.laps.append((f"{name}.{k}", v))

    def text(self) -> str:
        parts = " ".join(f"{n}={t:.3f}" for n, t in self.laps)
        return f"timings: {parts} total={time.monotonic() - self.t0:.3f}"


def confirm(hooks: Hooks, yes: bool, question: str, what: str) -> None:
    """NotConfirmed unless `yes` or the caller confirms."""
    if yes:
        return
    if not hooks.confirm(question, what):
        raise NotConfirmed("nothing was changed")


def check_access(engine: Engine, hooks: Hooks) -> Access:
    """The credentials may act on the stack's agency project (WrongAgency otherwise: the first thing a workflow
    asks, so a refusal changes nothing); a warning when they carry the admin role, which belongs to onboarding
    and usage collection, not to an agency's deploys."""
    access = engine.check_access()
    if access.admin:
        hooks.note(f"warning: {engine.name} runs with the admin role ({access.who()}): an agency's deploys "
                   f"should use its own credentials (docs/isolation.md)")
    return access


def recover_stack(engine: Engine, hooks: Hooks) -> StackState | None:
    """Clear what an interrupted run left (stale locks, pending operations), refresh when that was needed.

    Returns the stack's state as found (None when it was never deployed)."""
    from govcloud.engine.runner import EngineOp
    from govcloud.engine.stack import StackState

    rec = engine.recover()
    for note in rec.notes:
        hooks.note(f"recovery: {note}")
    if rec.needs_refresh:
        hooks.note("recovery: refreshing the state from the cloud ...")
        ensure_ok(engine.run(EngineOp.REFRESH, message="govcloud: recovery after an interrupted run"))
    return StackState.from_export(rec.deployment)


def record_lifetimes(checked, result: "OperationResult", hooks: Hooks) -> None:
    """Give metering the lifetimes an up or destroy created or ended (govcloud.metering.lifetimes), so that a
    resource that lives and dies between two collections is charged for the time it lived.

    Called for every up and destroy that reached the engine, failed ones too (a failed up may have created
    resources). Metering must never fail a change that was applied: a problem is a warning, not an error.
    """
    from govcloud.metering.lifetimes import events_file, record_operation
    from govcloud.metering.store import UsageStore
    from govcloud.provenance import file_sha256

    ws = checked.workspace
    try:
        with UsageStore.for_config(ws.config) as store:
            record_operation(result, store, checked.site, {a.id: a.project for a in ws.inventory.registry.agencies},
                             manifest_sha256=file_sha256(checked.file))
    except Exception as exc:  # noqa: BLE001 - the change is applied; only its metering record is missing
        hooks.note(f"warning: the lifetimes of this {result.op} were not recorded for metering ({type(exc).__name__}: "
                   f"{exc}); `govcloud usage record-events --site {checked.plan.service.site} "
                   f"{events_file(result) or 'EVENTS-FILE'}` adds them later")
