"""The library entry points of verify and ssh: what the CLI and `deploy --verify` call.

    verify_service(checked, plan, outputs=..., options=...) -> VerifyReport   one deployed stack
    verify_files(files, options) -> [VerifyReport]                             `govcloud verify FILE...`
    run_command(file, server, command, ...) -> exit status                     `govcloud ssh FILE SERVER -- CMD`
    open_shell(file, server, ...) -> exit status                               `govcloud ssh FILE SERVER`
    last_verify(config, "project/stack") -> VerifyReport | None                the catalog's availability

Each verify keeps its report as the stack's last and appends one audit record with
the host keys seen; each ssh session appends one too.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Sequence

from govcloud.check import CheckedService, Workspace
from govcloud.errors import did_you_mean
from govcloud.ops.audit import utc_now
from govcloud.plan.model import ResourcePlan
from govcloud.verify.deployed import LazyConsoleSource, nova_console_source, read_stack_outputs
from govcloud.verify.errors import ServerNotFound, VerifyError
from govcloud.verify.model import VerifyReport
from govcloud.verify.runner import OnProgress, Run, VerifyOptions, verify_all
from govcloud.verify.source import ConsoleSource
from govcloud.verify.ssh import ClientKeys, Session
from govcloud.verify.store import last_verify, pinned_keys, record_run, save_report, stack_name
from govcloud.verify.targets import ServerTarget, server_targets
from govcloud.verify.trust import Trust, read_operator_file

__all__ = ["verify_service", "verify_files", "run_command", "open_shell", "last_verify"]


def _run(checked: CheckedService, plan: ResourcePlan, console: ConsoleSource | None, options: VerifyOptions,
         on_progress: OnProgress | None) -> Run:
    site = checked.site
    key_file = options.key_file or (Path(site.ssh.key_file) if site.ssh.key_file else None)
    keys = ClientKeys(key_file, options.key_passphrase)
    keys.check()  # nothing to log in with: say so before any server
    source = console or LazyConsoleSource(lambda: nova_console_source(plan))
    trust = Trust(pinned_keys(checked.config, stack_name(plan.service)), source, utc_now,
                  read_operator_file(options.known_hosts), options.repin)
    return Run(trust, keys, source, options, site.name, on_progress)


def _targets(checked: CheckedService, plan: ResourcePlan, outputs: Mapping[str, Any] | None, options: VerifyOptions):
    data = outputs if outputs is not None else read_stack_outputs(plan, checked.config)
    return server_targets(checked.manifest, plan, data, checked.site, options.user)


def verify_service(checked: CheckedService, plan: ResourcePlan, *, outputs: Mapping[str, Any] | None = None,
                   console: ConsoleSource | None = None, options: VerifyOptions = VerifyOptions(),
                   on_progress: OnProgress | None = None) -> VerifyReport:
    """Verify every server of a deployed stack.

    :param checked: the manifest, checked (``Workspace.check(file)``)
    :param plan: its ResourcePlan (``checked.compile()``)
    :param outputs: the stack outputs when the caller has them (deploy); else they are read from the engine
    :param console: where console output and Nova's faults come from (default: Nova of the plan's site)
    :returns: the report; it is also kept as the stack's last, and audited with the host keys seen
    :raises KeyFileError: no usable private key;  SetupError: the stack is not deployed
    """
    targets = _targets(checked, plan, outputs, options)
    _check_names(options.repin, targets.servers, "--repin")
    run = _run(checked, plan, console, options, on_progress)
    started, t0 = utc_now(), time.monotonic()
    hosts = verify_all(targets.servers, run)
    notes = tuple(f"{name} is in the plan but not in the stack outputs (deploy it first)" for name in targets.missing)
    report = VerifyReport(stack=stack_name(plan.service), service=plan.service.prefix, manifest=checked.file,
                          started=started, duration_seconds=round(time.monotonic() - t0, 3), hosts=hosts, notes=notes)
    save_report(checked.config, report)
    record_run(checked.config, operation="verify", stack=report.stack, manifest=checked.file, ok=report.ok,
               seen=run.trust.seen, started=started, duration_seconds=report.duration_seconds,
               error="" if report.ok else report.summary())
    return report


def verify_files(files: Sequence[str | Path], options: VerifyOptions = VerifyOptions(),
                 on_progress: OnProgress | None = None) -> list[VerifyReport]:
    """`govcloud verify FILE...`: one report per manifest (each one's deployed stack)."""
    ws = Workspace.for_paths([str(f) for f in files])
    reports = []
    for f in files:
        checked = ws.check(f)
        reports.append(verify_service(checked, checked.compile(), options=options, on_progress=on_progress))
    return reports


# ---------------------------------------------------------------- ssh


@contextmanager
def server_session(file: str | Path, server: str, options: VerifyOptions = VerifyOptions(), *,
                   operation: str = "ssh", command: str = "",
                   outputs: Mapping[str, Any] | None = None,
                   console: ConsoleSource | None = None) -> Iterator[tuple[Session, ServerTarget]]:
    """A logged-in session on one server of the file's stack, through the same path as verify."""
    checked = Workspace.for_paths([str(file)]).check(file)
    plan = checked.compile()
    targets = _targets(checked, plan, outputs, options)
    target = _find(server, targets.servers)
    run = _run(checked, plan, console, options, None)
    started, t0 = utc_now(), time.monotonic()
    ok, error = False, ""
    try:
        session, _where = run.login(target, options.timeouts)
        with session:
            yield session, target
        ok = True
    except VerifyError as exc:
        error = str(exc)
        raise
    finally:
        what = f"{operation} {target.label}" + (f": {command}" if command else " (shell)")
        record_run(checked.config, operation=operation, stack=stack_name(plan.service), manifest=checked.file,
                   ok=ok, seen=run.trust.seen, started=started, duration_seconds=time.monotonic() - t0,
                   error=error, detail=what)


def run_command(file: str | Path, server: str, command: str, options: VerifyOptions = VerifyOptions(), *,
                stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None,
                stderr: IO[bytes] | None = None, **sources: Any) -> int:
    """Run `command` on the server, its output streamed to `stdout` / `stderr`; its exit status."""
    from govcloud.verify.shell import stream_command

    with server_session(file, server, options, command=command, **sources) as (session, _target):
        return stream_command(session, command, stdin=stdin, stdout=stdout, stderr=stderr)


def open_shell(file: str | Path, server: str, options: VerifyOptions = VerifyOptions(), **sources: Any) -> int:
    """An interactive shell on the server (this process's terminal); the shell's exit status."""
    from govcloud.verify.shell import interactive_shell

    with server_session(file, server, options, **sources) as (session, _target):
        return interactive_shell(session)


def _find(name: str, servers: Sequence[ServerTarget]) -> ServerTarget:
    for t in servers:
        if name in (t.label, t.name, t.server_id):
            return t
    choices = [t.label for t in servers]
    hint = did_you_mean(name, choices)
    raise ServerNotFound(f"no server '{name}' in the stack" + (f" ({hint})" if hint else "") +
                         f"; servers: {', '.join(choices) or 'none'}")


def _check_names(names: frozenset[str], servers: Sequence[ServerTarget], option: str) -> None:
    unknown = sorted(names - ({t.label for t in servers} | {t.name for t in servers}))
    if unknown:
        raise ServerNotFound(f"{option} {', '.join(unknown)}: no such server in the stack; servers: "
                             f"{', '.join(t.label for t in servers) or 'none'}")
