"""Verify reports for people (a table), for machines (JSON) and for CI systems (JUnit XML).

JUnit: one <testsuite> per stack, one <testcase> per server and check, named
`<stack>.<server>` / `<check>`. Every server has an `ssh` test case (log in with a
verified host key): a server that could not be checked fails there with an
<error> whose type is the failure class, its message and Nova's diagnostics in
the body; a failed check is a <failure> of type `check-failed`.
"""
from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from typing import Sequence

from govcloud.verify.model import HostResult, VerifyReport


def report_json(reports: Sequence[VerifyReport]) -> dict:
    return {"ok": all(r.ok for r in reports), "stacks": [r.to_json() for r in reports]}


def report_text(reports: Sequence[VerifyReport]) -> str:
    lines: list[str] = []
    for r in reports:
        lines.append(f"{r.stack} ({r.service}): {r.summary()}")
        for h in r.hosts:
            key = f"  key {h.host_key}, {h.host_key_source}" if h.host_key else ""
            lines.append(f"  {h.label:<12} {h.address:<22} {h.route}{key}")
            for c in h.checks:
                lines.append(f"    {'ok' if c.ok else 'FAIL':<5} {c.name:<20} {c.detail}")
            if h.failure is not None:
                lines.append(f"    FAILED {h.failure.title}: {h.message}")
                lines.extend(f"      {ln}" for ln in diagnostics_lines(h))
        lines.extend(f"  note: {n}" for n in r.notes)
    return "\n".join(lines)


def diagnostics_lines(h: HostResult) -> list[str]:
    d = h.diagnostics
    if d is None:
        return []
    out = []
    if d.status or d.fault:
        out.append(f"Nova: status {d.status or '?'}" + (f", fault: {d.fault}" if d.fault else ", no fault recorded"))
    out.extend(d.notes)
    if d.console_tail:
        out.append("console output (last lines):")
        out.extend(f"| {ln}" for ln in d.console_tail.splitlines())
    return out


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    """Text XML 1.0 can hold (a console tail may carry control characters)."""
    return _NOT_XML.sub("\ufffd", text)


def report_junit(reports: Sequence[VerifyReport]) -> str:
    root = ET.Element("testsuites", name="govcloud verify")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=r.stack, timestamp=r.started, hostname=socket.gethostname(),
                              time=f"{r.duration_seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for h in r.hosts:
            cls = f"{r.stack}.{h.server}"
            ssh = ET.SubElement(suite, "testcase", classname=cls, name="ssh")
            counts["tests"] += 1
            if h.failure is not None:
                err = ET.SubElement(ssh, "error", type=h.failure.value, message=_x(f"{h.failure.title}: {h.message}"))
                err.text = _x("\n".join([h.message, *diagnostics_lines(h)]))
                counts["errors"] += 1
            for c in h.checks:
                case = ET.SubElement(suite, "testcase", classname=cls, name=c.name)
                counts["tests"] += 1
                if not c.ok:
                    ET.SubElement(case, "failure", type="check-failed", message=_x(c.detail)).text = _x(c.detail)
                    counts["failures"] += 1
        for note in r.notes:
            case = ET.SubElement(suite, "testcase", classname=r.stack, name="deployed")
            ET.SubElement(case, "error", type="not-deployed", message=_x(note)).text = _x(note)
            counts["tests"] += 1
            counts["errors"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
