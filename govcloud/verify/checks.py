"""The checks verify runs on a server, each one command over the SSH session, and their parsers.

- cloud-init: `cloud-init status --long` says done (a "degraded" done, with
  recoverable errors such as deprecation warnings, still passes and says so); error
  fails; running or not started means the server is still booting (StillBooting:
  the runner tries again later);
- health-command: the manifest's `healthCheck.command` exits 0 on the server;
- health-port: `healthCheck.port` accepts a connection on the server itself
  (127.0.0.1, with bash's /dev/tcp or nc);
- health-port-public: for servers with a public IP, the port answers from where
  govcloud runs;
- volume:<name>: every volume the manifest attached is a disk in the guest, found by
  its serial (virtio shows the first 20 characters of the Cinder volume id) or, when
  the guest shows none, by its size, and it has the size the manifest gives;
- disk / memory: free space on / and available memory above a threshold (percent).

Commands run with LC_ALL=C so that their output parses the same on every image.
The parsers are pure functions (unit-tested on real outputs).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Sequence

from govcloud.verify.errors import StillBooting
from govcloud.verify.model import CheckResult

GIB = 1024 ** 3


@dataclass(frozen=True)
class Thresholds:
    min_free_disk_percent: float = 10.0
    min_free_memory_percent: float = 10.0
    port_timeout: float = 5.0


@dataclass(frozen=True)
class VolumeExpectation:
    name: str  # the manifest's volume name
    size_gb: int
    volume_id: str = ""  # the Cinder id, from the stack outputs


@dataclass(frozen=True)
class Disk:
    name: str
    size: int  # bytes
    serial: str = ""


# ---------------------------------------------------------------- cloud-init


# cloud-init before 18.x has no `status`: then its result file says whether (and how) the boot finished
CLOUD_INIT_COMMAND = ("if cloud-init status --help >/dev/null 2>&1; then LC_ALL=C cloud-init status --long; "
                      "elif command -v cloud-init >/dev/null 2>&1; then echo 'result.json:'; "
                      "cat /var/lib/cloud/data/result.json 2>/dev/null; "
                      "else echo 'cloud-init: not found'; exit 127; fi")


def cloud_init(session) -> CheckResult:
    r = session.run(CLOUD_INIT_COMMAND)
    if r.timed_out:
        return CheckResult("cloud-init", False, "`cloud-init status` did not answer in time")
    state, detail = parse_cloud_init_status(r.exit_status, r.stdout + r.stderr)
    if state == "booting":
        raise StillBooting(f"cloud-init has not finished yet ({detail})")
    return CheckResult("cloud-init", state == "ok", detail)


def parse_cloud_init_status(exit_status: int | None, text: str) -> tuple[str, str]:
    """(ok | failed | booting, detail) from `cloud-init status --long` (18.x to 25.x) or its result file."""
    if text.startswith("result.json:"):
        return _parse_result_file(text.removeprefix("result.json:"))
    if exit_status == 127 or re.search(r"cloud-init: (command )?not found", text):
        return "failed", "cloud-init is not installed on the server"
    fields = _status_fields(text)
    status = fields.get("status", "")
    extended = fields.get("extended_status", status)
    if status in ("running", "not started", "not run", "not_started"):
        return "booting", f"status: {status}" + (f", {fields['detail']}" if fields.get("detail") else "")
    if status == "done":
        recoverable = fields.get("recoverable_errors", "")
        if exit_status == 2 or "degraded" in extended or recoverable not in ("", "{}"):
            return "ok", f"done, with recoverable errors: {recoverable or extended}"
        return "ok", "done" + (f" ({fields['detail']})" if fields.get("detail") else "")
    if status == "disabled":
        return "failed", "cloud-init is disabled on the server: its user data never ran"
    if not status:
        return "failed", f"no status in its output: {text.strip()[:200]!r}"
    errors = fields.get("errors", "")
    return "failed", f"status: {status}" + (f": {errors}" if errors not in ("", "[]") else
                                             (f" ({fields['detail']})" if fields.get("detail") else ""))


def _status_fields(text: str) -> dict[str, str]:
    """`key: value` lines; a key with no value takes the indented or following lines up to the next key."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+):\s*(.*)$", line)
        if m and not line[0].isspace():
            key = m.group(1)
            fields[key] = m.group(2).strip()
        elif key in ("detail", "errors", "recoverable_errors") and line.strip():
            fields[key] = "; ".join(x for x in (fields[key], line.strip().lstrip("- ").strip()) if x)
    return fields


def _parse_result_file(text: str) -> tuple[str, str]:
    import json

    if not text.strip():
        return "booting", "its result file /var/lib/cloud/data/result.json is not written yet"
    try:
        v1 = json.loads(text).get("v1") or {}
    except (ValueError, AttributeError):
        return "failed", "its result file /var/lib/cloud/data/result.json cannot be read"
    errors = v1.get("errors") or []
    if errors:
        return "failed", "errors: " + "; ".join(str(e) for e in errors)[:300]
    return "ok", f"done ({v1.get('datasource') or 'result file'})"


# ---------------------------------------------------------------- health checks


def health_command(session, command: str, timeout: float | None = None) -> CheckResult:
    r = session.run(command, timeout)
    if r.timed_out:
        return CheckResult("health-command", False, f"`{command}` did not exit in time")
    said = _last_line(r.stdout) or _last_line(r.stderr)
    if r.exit_status == 0:
        return CheckResult("health-command", True, f"`{command}`: exit 0" + (f", {said}" if said else ""))
    return CheckResult("health-command", False, f"`{command}`: exit {r.exit_status}" + (f": {said}" if said else ""))


def port_probe_command(port: int, timeout: float) -> str:
    """A shell command that exits 0 when 127.0.0.1:port accepts a connection on the server."""
    t = max(1, int(round(timeout)))
    inner = shlex.quote(f"exec 3<>/dev/tcp/127.0.0.1/{port}")
    return (f"if command -v bash >/dev/null 2>&1; then timeout {t} bash -c {inner}; "
            f"elif command -v nc >/dev/null 2>&1; then nc -z -w {t} 127.0.0.1 {port}; else exit 127; fi")


def health_port(session, port: int, timeout: float) -> CheckResult:
    r = session.run(port_probe_command(port, timeout), timeout + 5)
    if r.exit_status == 0:
        return CheckResult("health-port", True, f"port {port} accepts connections on the server")
    if r.exit_status == 127:
        return CheckResult("health-port", False, f"port {port}: neither bash nor nc on the server to test it")
    why = "no answer in time" if r.exit_status == 124 or r.timed_out else \
        (_last_line(r.stderr).rsplit(":", 1)[-1].strip() or "refused")
    return CheckResult("health-port", False, f"port {port} on the server: {why}")


def health_port_public(host: str, port: int, timeout: float) -> CheckResult:
    from govcloud.verify.ssh import probe_port

    why = probe_port(host, port, timeout)
    if why is None:
        return CheckResult("health-port-public", True, f"{host}:{port} accepts connections from here")
    return CheckResult("health-port-public", False, f"{host}:{port} from here: {why}")


# ---------------------------------------------------------------- volumes


VOLUMES_COMMAND = "LC_ALL=C lsblk -b -d -n -P -o NAME,SIZE,SERIAL,TYPE; echo ---; LC_ALL=C findmnt -n -o SOURCE /"


def parse_lsblk(text: str) -> tuple[list[Disk], str]:
    """(the disks of `lsblk -b -d -n -P -o NAME,SIZE,SERIAL,TYPE`, the device / is on)."""
    listing, _, root = text.partition("---")
    disks = []
    for line in listing.splitlines():
        f = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if f.get("TYPE", "disk") == "disk" and f.get("NAME") and f.get("SIZE", "").isdigit():
            disks.append(Disk(f["NAME"], int(f["SIZE"]), f.get("SERIAL", "").strip()))
    return disks, root.strip()


def match_volumes(expected: Sequence[VolumeExpectation], disks: Sequence[Disk], root: str) -> list[CheckResult]:
    """One check per expected volume: its disk by serial, else by size among the disks not holding /."""
    free = [d for d in disks if not (root and root.removeprefix("/dev/").startswith(d.name))]
    results = []
    for v in expected:
        want = v.size_gb * GIB
        by_serial = next((d for d in free if len(d.serial) >= 8 and v.volume_id
                          and v.volume_id.replace("-", "").startswith(d.serial.replace("-", ""))), None)
        disk = by_serial or next((d for d in free if d.size == want and not d.serial), None)
        name = f"volume:{v.name}"
        if disk is None:
            ident = f"volume {v.volume_id[:20]}" if v.volume_id else "no volume id"
            results.append(CheckResult(name, False, f"not visible in the guest ({ident}, {v.size_gb} GiB): "
                                                    f"no such disk among {', '.join(d.name for d in free) or 'none'}"))
            continue
        free.remove(disk)
        if disk.size != want:
            results.append(CheckResult(name, False, f"/dev/{disk.name} is {disk.size / GIB:.1f} GiB, "
                                                    f"the manifest says {v.size_gb} GiB"))
        else:
            results.append(CheckResult(name, True, f"/dev/{disk.name}, {v.size_gb} GiB"))
    return results


def volumes(session, expected: Sequence[VolumeExpectation]) -> list[CheckResult]:
    r = session.run(VOLUMES_COMMAND)
    if r.exit_status not in (0, None) and not r.stdout.strip():
        return [CheckResult(f"volume:{v.name}", False, f"lsblk failed: {_last_line(r.stderr)}") for v in expected]
    disks, root = parse_lsblk(r.stdout)
    return match_volumes(expected, disks, root)


# ---------------------------------------------------------------- headroom


HEADROOM_COMMAND = "LC_ALL=C df -P -k /; echo ---; cat /proc/meminfo"


def parse_headroom(text: str) -> tuple[float | None, float | None]:
    """(percent free on /, percent of memory available), from `df -P -k /` and /proc/meminfo."""
    df, _, meminfo = text.partition("---")
    disk = None
    rows = [ln.split() for ln in df.splitlines() if ln.strip()]
    if len(rows) >= 2 and len(rows[-1]) >= 6:
        try:
            used, avail = int(rows[-1][2]), int(rows[-1][3])
            disk = 100.0 * avail / (used + avail) if used + avail else None
        except ValueError:
            disk = None
    mem = {k.strip(): int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in meminfo.splitlines())
           if v.strip() and v.split()[0].isdigit()}
    memory = None
    if mem.get("MemTotal"):
        avail_kb = mem.get("MemAvailable", mem.get("MemFree", 0) + mem.get("Buffers", 0) + mem.get("Cached", 0))
        memory = 100.0 * avail_kb / mem["MemTotal"]
    return disk, memory


def headroom(session, limits: Thresholds) -> list[CheckResult]:
    r = session.run(HEADROOM_COMMAND)
    disk, memory = parse_headroom(r.stdout)
    return [_headroom("disk", "free on /", disk, limits.min_free_disk_percent),
            _headroom("memory", "of memory available", memory, limits.min_free_memory_percent)]


def _headroom(name: str, what: str, value: float | None, minimum: float) -> CheckResult:
    if value is None:
        return CheckResult(name, False, f"could not read how much is {what.split()[-1]}")
    return CheckResult(name, value >= minimum, f"{value:.0f}% {what} (at least {minimum:g}% wanted)")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
