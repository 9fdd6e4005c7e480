"""The seam between the workflows (govcloud.ops) and the engine: one stack's engine as a small protocol.

The workflows (deploy, destroy, refresh, diff) only ever talk to an `Engine`:
lock the stack, repair what a killed run left, read the state, run one
operation, clear protection, tag the stack (the audit log's head). `StackEngine` is the real one (the Pulumi CLI in a
child process per operation, the file or DIY backend, the passphrase);
tests/unit/fake_engine.py replays recorded real event logs, so every branch of
the choreography is unit-tested in milliseconds.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable, Iterator, Protocol, Sequence

from govcloud.config import ConfigRepo
from govcloud.engine import events as ev
from govcloud.engine.locks import StackLock, clear_stale_engine_locks, engine_locks
from govcloud.engine.recovery import Recovery
from govcloud.engine.runner import EngineOp, Interrupts, OperationResult
from govcloud.engine.stack import StackLocation, StackState
from govcloud.plan.model import ResourcePlan

if TYPE_CHECKING:
    from govcloud.cloud.access import Access


class Engine(Protocol):
    """One stack's engine, as the workflows drive it."""

    @property
    def name(self) -> str:
        """project/stack"""

    def check_access(self) -> Access:
        """Who the stack's operations run as; WrongAgency when the credentials cannot act on the stack's agency
        project (govcloud.cloud.access): asked before anything else, so a refusal changes nothing."""

    def lock(self, command: str) -> ContextManager[None]:
        """Hold the stack for the whole workflow; StackLockedError when another run holds it."""

    def recover(self) -> Recovery:
        """Clear stale engine locks, repair pending operations; says whether a refresh must follow."""

    def state(self) -> StackState | None:
        """The stack's state (None when it was never deployed)."""

    def run(self, op: EngineOp, *, allow_data_loss: bool = False, replace: Sequence[str] = (),
            refresh_first: bool = False, message: str | None = None,
            on_event: Callable[[ev.Event], None] | None = None,
            plan: ResourcePlan | None = None) -> OperationResult:
        """Run one operation of the program; failures are in the result, never raised.

        `plan`: another plan of the same stack for this run (onboarding's adoption imports with one plan,
        then applies the registry's, under the one lock)."""

    def unprotect(self, urns: Iterable[str] | None = None) -> list[str]:
        """Clear protect/retainOnDelete in the state (all resources when urns is None)."""

    def exists(self) -> bool:
        """The stack exists in its backend (deployed at least once, perhaps empty since)."""

    def tags(self) -> dict[str, str]:
        """The stack's tags in its backend (the audit log's head is one: ops/auditheads.py)."""

    def set_tag(self, name: str, value: str) -> None:
        """Set one tag of the (existing) stack."""


class StackEngine:
    """The real engine of one plan's stack: the Pulumi CLI and a child process per operation."""

    def __init__(self, plan: ResourcePlan, config: ConfigRepo, *, passphrase: str | None = None,
                 interrupts: Interrupts | None = None, need_passphrase: bool = True, keep_preview: bool = False,
                 ahead: EngineOp | None = None, lock_wait: float = 0.0):
        """`keep_preview` (deploy): a preview under the lock keeps its child waiting, and an up of the same
        change right after it runs in that child (runner.EngineChild); the lock's end lets it go.
        `ahead`: the operation whose child the access check starts, to import while Keystone answers and the
        lock is taken (default with keep_preview: the preview; deploy --skip-preview: the up).
        `lock_wait`: seconds to wait for another run's lock (shared database only)."""
        from govcloud.engine.stack import locate
        from govcloud.settings import read_passphrase

        self.plan = plan
        self.config = config
        self.location: StackLocation = locate(plan, config)
        self.passphrase = passphrase or (read_passphrase(agency=plan.service.agency) if need_passphrase else None)
        self.interrupts = interrupts or Interrupts()
        self.lock_wait = lock_wait  # seconds to wait for another run's lock (shared database only)
        self._lock = None  # StackLock | DatabaseStackLock while held
        self._cli = None
        self.keep_preview = keep_preview
        self._waiting = None  # a runner.EngineChild that previewed and waits for the go-ahead
        self._provider = None  # the provider configuration, read once for every child of this stack
        self._spare = None  # a runner.ChildProcess started ahead for the operation `ahead`
        self.ahead = ahead if ahead is not None else (EngineOp.PREVIEW if keep_preview else None)

    @property
    def name(self) -> str:
        return self.location.name

    def check_access(self) -> Access:
        from govcloud.cloud.access import check_access

        if self.ahead is not None and self._spare is None:
            # deploy: its first operation's child starts now and imports while Keystone answers and the lock is taken
            from govcloud.engine.runner import ChildProcess

            self._spare = ChildProcess.start(self.location, self.ahead, self.passphrase)
        try:
            return check_access(self.plan)
        except BaseException:
            self._let_go()
            raise

    @property
    def cli(self):
        """The Pulumi CLI for this stack's state operations (created on first use: it finds the toolchain)."""
        if self._cli is None:
            from govcloud.engine.command import PulumiCli

            self._cli = PulumiCli(self.location, self.passphrase)
        return self._cli

    @contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """The shared database's lock when one is configured (it holds across machines), else the flock."""
        from govcloud.shared.db import shared_database

        db = shared_database(self.config)
        if db is not None:
            from govcloud.shared.locks import DatabaseStackLock

            held = DatabaseStackLock(db, self.name, command, wait=self.lock_wait)
        else:
            held = StackLock(self.location, command)
        try:
            with held:
                self._lock = held
                try:
                    yield
                finally:
                    self._let_go()  # the children end before the lock does: they hold it too
        finally:
            self._let_go()  # the lock was not had: a child started ahead goes all the same
            self._lock = None

    def _let_go(self) -> None:
        """End the children this engine keeps: one waiting for a go-ahead, one started ahead and never used."""
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.close()
        if self._spare is not None:
            spare, self._spare = self._spare, None
            spare.close()

    def recover(self) -> Recovery:
        import dataclasses

        from govcloud.engine.recovery import recover
        from govcloud.engine.stack import repair_sidecars

        notes = list(repair_sidecars(self.location))  # before the CLI's first use, which repairs silently
        dead = getattr(self._lock, "taken_over", None)
        if dead is not None:
            notes.append(f"cleared the stack lock of a run that stopped: {dead.describe()}")
            if self.location.backend_path() is None:
                # the dead run's engine lock in a shared backend: nobody of that run is alive to hold it
                self.cli.cancel()
                notes.append("removed the engine locks that run left in the backend")
        rec = recover(self.plan, self.config, self.cli)
        return dataclasses.replace(rec, notes=(*notes, *rec.notes)) if notes else rec

    def state(self) -> StackState | None:
        return StackState.from_export(self.cli.export())

    def run(self, op: EngineOp, *, allow_data_loss: bool = False, replace: Sequence[str] = (),
            refresh_first: bool = False, message: str | None = None,
            on_event: Callable[[ev.Event], None] | None = None,
            plan: ResourcePlan | None = None) -> OperationResult:
        from govcloud.engine.runner import EngineChild
        from govcloud.engine.stack import locate

        plan = plan or self.plan
        if locate(plan, self.config) != self.location:
            raise ValueError(f"a plan of {plan.service.pulumi_project}/{plan.service.stack} given to {self.name}")
        waiting, self._waiting = self._waiting, None
        if waiting is not None and op == EngineOp.UP and waiting.matches(
                allow_data_loss=allow_data_loss, replace=replace, refresh_first=refresh_first, plan=plan):
            result = waiting.up(message=message, on_event=on_event)
        else:
            if waiting is not None:
                waiting.close()
            keep = self.keep_preview and op == EngineOp.PREVIEW and self._lock is not None
            if self._provider is None:
                from govcloud.cloud.credentials import provider_config

                self._provider = provider_config(self.plan)  # another plan of this stack has the same service
            started = self._spare is not None and self._spare.op == op and self._lock is not None
            spare, self._spare = (self._spare, None) if started else (None, self._spare)
            child = EngineChild(op, plan, self.config, allow_data_loss=allow_data_loss, replace=replace,
                                message=message, lock=self._lock, passphrase=self.passphrase,
                                refresh_first=refresh_first, interrupts=self.interrupts, then_up=keep,
                                provider=self._provider, process=spare)
            result = child.step(on_event)
            if child.waiting:
                self._waiting = child
        if result.unsure_creates:
            result = self._remember_unsure_creates(result)
        return result

    def _remember_unsure_creates(self, result: OperationResult) -> OperationResult:
        """Failed creates that may have reached the cloud become pending creates, for the next recovery."""
        import dataclasses

        from govcloud.engine.recovery import remember_unsure_creates
        from govcloud.errors import GovcloudError

        try:
            notes = remember_unsure_creates(self.location, result.unsure_creates)
        except (OSError, GovcloudError) as exc:  # not recorded: say what may be left
            keys = ", ".join(ev.urn_parts(r["urn"])[1] for r in result.unsure_creates)
            notes = [f"{keys}: the failed create may have reached the cloud, and recording it failed ({exc}); "
                     f"look for it in the cloud before deploying again"]
        if not notes:
            return result
        return dataclasses.replace(result, error="\n".join([result.error or "", *notes]).strip())

    def unprotect(self, urns: Iterable[str] | None = None) -> list[str]:
        from govcloud.engine.stack import unprotect

        return unprotect(self.cli, urns)

    # state operations the inspection commands use (not part of the workflows' protocol)

    def exists(self) -> bool:
        return self.cli.exists()

    def tags(self) -> dict[str, str]:
        return self.cli.tags()

    def set_tag(self, name: str, value: str) -> None:
        self.cli.set_tag(name, value)

    def outputs(self) -> dict:
        return self.cli.outputs()

    def history(self, limit: int | None = None) -> list[dict]:
        return self.cli.history(limit)

    def engine_locks(self):
        return engine_locks(self.location)

    def clear_stale_locks(self) -> list[str]:
        return clear_stale_engine_locks(self.location)

    def cancel(self) -> None:
        self.cli.cancel()
