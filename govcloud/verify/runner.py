"""Verify many servers: in parallel with a bound, each within its own deadline, retried while it boots.

Per server: decide the host key it must present (govcloud.verify.trust), log in
(directly or through the bastion), run the checks (govcloud.verify.checks). An error
that a booting server gives (connection refused or timing out, no SSH banner yet,
Nova's console not ready, no host keys on the console yet, cloud-init still running,
a login refused before cloud-init installed the key) is tried again after a backoff
(1 s, 2 s, 4 s ... up to `retry_max`) until the server's deadline (`host_timeout`);
then it is reported in its own class, or as "timed out while booting" when the server
never finished booting. A host key that is unknown or changed is never retried.

A failure that is not a failed check comes with what Nova knows: the tail of the
console output and the server's status and fault, as Tempest attaches them.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from govcloud.load.inventory import Bastion
from govcloud.ops.audit import redact
from govcloud.verify import checks
from govcloud.verify.console import boot_finished, console_tail
from govcloud.verify.errors import AuthFailed, HostKeyChanged, HostKeyUnknown, StillBooting, Unreachable, VerifyError
from govcloud.verify.hostkey import HostKey
from govcloud.verify.model import CheckResult, Diagnostics, HostResult
from govcloud.verify.source import ConsoleNotReady, ConsoleSource, ConsoleUnavailable
from govcloud.verify.ssh import ClientKeys, Endpoint, Session, Timeouts, open_session
from govcloud.verify.targets import ServerTarget
from govcloud.verify.trust import Trust


@dataclass(frozen=True)
class VerifyOptions:
    known_hosts: Path | None = None  # an operator's known_hosts: only it is trusted (nothing pinned)
    key_file: Path | None = None  # overrides the site's ssh.keyFile
    key_passphrase: str | None = field(default=None, repr=False)
    user: str | None = None  # overrides the site's ssh.user
    parallel: int = 8  # servers checked at once
    host_timeout: float = 300.0  # per server, retries included
    retry_first: float = 1.0  # first backoff, doubled up to retry_max
    retry_max: float = 15.0
    timeouts: Timeouts = Timeouts()
    thresholds: checks.Thresholds = checks.Thresholds()
    repin: frozenset[str] = frozenset()  # servers whose keys are read again from the console (after a rebuild)
    console_lines: int = 25  # console tail attached to a failure


@dataclass(frozen=True)
class ProgressEvent:
    server: str  # label (web-1)
    state: str  # connecting | checking | waiting | done
    detail: str = ""
    result: HostResult | None = None


OnProgress = Callable[[ProgressEvent], None]


@dataclass
class Run:
    """What every server of one stack's run shares."""

    trust: Trust
    keys: ClientKeys
    console: ConsoleSource
    options: VerifyOptions
    site: str
    on_progress: OnProgress | None = None
    sleep: Callable[[float], None] = time.sleep

    def progress(self, target: ServerTarget, state: str, detail: str = "", result: HostResult | None = None):
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(target.label, state, detail, result))

    def bastion_endpoint(self, b: Bastion) -> Endpoint:
        keys = tuple(HostKey.parse(k) for k in b.host_keys)
        return Endpoint(f"bastion {b.host}", b.host, b.port, b.user, keys,
                        where=f"site {self.site}'s inventory (ssh.bastion.hostKeys)",
                        hint="check the bastion's keys with its administrators before changing the inventory")

    def endpoint(self, target: ServerTarget) -> tuple[Endpoint, str, str]:
        """(the server's endpoint with the keys it must present, their source, pinned now?)."""
        exp = self.trust.expected(target)
        hint = ""
        if exp.source == "pinned":
            hint = (f"if the server was rebuilt on purpose, `govcloud verify FILE --repin {target.label}` pins the "
                    f"keys its console output shows now")
        ep = Endpoint(f"server {target.name}", target.host, target.port, target.user, exp.keys, exp.where,
                      exp.unknown_reason, hint)
        return ep, exp.source, exp.pinned_now

    def login(self, target: ServerTarget, timeouts: Timeouts) -> tuple[Session, str]:
        """A session on the target, every host key seen recorded; (session, where its key came from)."""
        if target.no_route:
            raise Unreachable(target.no_route, retryable=False)
        ep, source, pinned_now = self.endpoint(target)
        jump = self.bastion_endpoint(target.bastion) if target.bastion is not None else None
        try:
            session = open_session(ep, self.keys, timeouts, jump)
        except (HostKeyUnknown, HostKeyChanged) as exc:
            outcome = "refused-unknown" if isinstance(exc, HostKeyUnknown) else "refused-changed"
            bastion = jump is not None and exc.who == jump.who
            self.trust.saw(exc.who, (jump or ep).address if bastion else ep.address, exc.presented, outcome,
                           "inventory" if bastion else source)
            if isinstance(exc, HostKeyChanged) and source == "pinned" and not bastion:
                shows = self.trust.console_shows(target, exc.presented)
                if shows is False:
                    raise HostKeyChanged(exc.who, exc.expected, exc.presented, ep.where,
                                         "its console output does not show the presented key either") from None
            raise
        if jump is not None:
            self.trust.saw(jump.who, jump.address, session.bastion_presented, "matched", "inventory")
        self.trust.saw(ep.who, ep.address, session.presented, pinned_now or "matched", source)
        return session, "console (pinned now)" if pinned_now else ep.where

    def verify(self, target: ServerTarget) -> HostResult:
        deadline = time.monotonic() + self.options.host_timeout
        attempt = 0
        while True:
            attempt += 1
            self.progress(target, "connecting", f"attempt {attempt}" if attempt > 1 else "")
            remaining = deadline - time.monotonic()
            try:
                session, key_source = self.login(target, self.options.timeouts.within(remaining))
                with session:
                    self.progress(target, "checking")
                    results = run_checks(session, target, self.options)
                return HostResult(target.name, target.label, target.server_id, target.address, target.route,
                                  tuple(results), host_key=session.presented.label(), host_key_source=key_source,
                                  attempts=attempt)
            except VerifyError as exc:
                wait = min(self.options.retry_max, self.options.retry_first * 2 ** (attempt - 1))
                left = deadline - time.monotonic()
                if self._retry(target, exc) and left > 0:
                    self.progress(target, "waiting", f"{exc.failure.title}: {exc}; again in {min(wait, left):.0f} s")
                    self.sleep(min(wait, left))
                    continue
                return self.failed(target, exc, attempt)

    def _retry(self, target: ServerTarget, exc: VerifyError) -> bool:
        if isinstance(exc, AuthFailed):  # cloud-init may not have installed the key yet
            try:
                return not boot_finished(self.console.console_output(target.server_id))
            except (ConsoleNotReady, ConsoleUnavailable):
                return False
        return exc.retryable

    def failed(self, target: ServerTarget, exc: VerifyError, attempts: int) -> HostResult:
        message = str(exc)
        if isinstance(exc, StillBooting):
            message = f"not ready after {self.options.host_timeout:g} s: {exc}"
        elif exc.retryable:
            message = f"{exc} (after {attempts} attempts in {self.options.host_timeout:g} s)"
        return HostResult(target.name, target.label, target.server_id, target.address, target.route,
                          failure=exc.failure, message=message, attempts=attempts, diagnostics=self.diagnose(target))

    def diagnose(self, target: ServerTarget) -> Diagnostics:
        """The console tail and Nova's status and fault of the server (what could be read)."""
        notes, tail, status, fault = [], "", "", ""
        if not target.server_id:
            return Diagnostics(notes=("the server has no id in the stack outputs",))
        try:  # (cloud-init's passwords are masked by console_tail, the secrets govcloud knows by redact)
            tail = redact(console_tail(self.console.console_output(target.server_id, length=200),
                                       self.options.console_lines))
        except (ConsoleNotReady, ConsoleUnavailable) as exc:
            notes.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - diagnosis must not hide the failure it explains
            notes.append(f"console output: {type(exc).__name__}: {exc}")
        try:
            state = self.console.server_state(target.server_id)
            status, fault = state.status, state.fault
        except Exception as exc:  # noqa: BLE001 - as above
            notes.append(f"server status: {type(exc).__name__}: {exc}")
        return Diagnostics(status, fault, tail, tuple(notes))


def run_checks(session: Session, target: ServerTarget, options: VerifyOptions) -> list[CheckResult]:
    """Every check of the server, cloud-init first (StillBooting while it runs)."""
    th = options.thresholds
    results = [checks.cloud_init(session)]
    hc = target.health
    if hc is not None and hc.command:
        results.append(checks.health_command(session, hc.command, options.timeouts.command))
    if hc is not None and hc.port:
        results.append(checks.health_port(session, hc.port, th.port_timeout))
        if target.public:
            results.append(checks.health_port_public(target.host, hc.port, th.port_timeout))
    if target.volumes:
        results.extend(checks.volumes(session, target.volumes))
    results.extend(checks.headroom(session, th))
    return results


def verify_all(targets: Sequence[ServerTarget], run: Run) -> tuple[HostResult, ...]:
    """Every target, at most `options.parallel` at once; results in the targets' order."""
    if not targets:
        return ()

    def one(target: ServerTarget) -> HostResult:
        result = run.verify(target)
        run.progress(target, "done", result=result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(run.options.parallel, len(targets))),
                            thread_name_prefix="verify") as pool:
        return tuple(pool.map(one, targets))
