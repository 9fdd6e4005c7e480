"""Post-deploy verification over SSH (`govcloud verify`, `govcloud ssh`), with no trust on first use.

A deploy that exits 0 says the cloud accepted the resources; verify says whether
the servers serve: for every server of the deployed stack it logs in over SSH
(paramiko; through the site's bastion for servers without a public IP) and checks
that cloud-init finished, the health check command and port answer, the volumes are
there with their size and there is disk and memory headroom.

Host keys are never accepted because a server presented them. They come from the
server's console output, read through Nova's API and pinned per stack the first
time, or from a known_hosts file the operator gives; the bastion's from the site
inventory. Unknown or changed keys are refused, naming the server and the
fingerprints. See docs/verify.md.

Modules, in the order a run uses them:

    targets     which servers, where, what to expect (plan + manifest + stack outputs + site)
    trust       which host key each must present (known_hosts, console, pins)
    ssh         paramiko: strict host keys, bastion channel, timeouts, keys (the only paramiko import)
    checks      the checks and their output parsers
    runner      parallel runs, deadlines, retries, failure classes, Nova diagnostics
    service     the entry points: verify_service, verify_files, run_command, open_shell, last_verify
    model, render, store, console, hostkey, known_hosts, source, deployed, shell, errors

Importing this package does not import paramiko or openstacksdk.
"""
from __future__ import annotations

from govcloud.verify.model import CheckResult, Diagnostics, Failure, HostResult, VerifyReport
from govcloud.verify.runner import ProgressEvent, VerifyOptions
from govcloud.verify.service import last_verify, open_shell, run_command, verify_files, verify_service

__all__ = ["CheckResult", "Diagnostics", "Failure", "HostResult", "VerifyReport", "ProgressEvent", "VerifyOptions",
           "verify_service", "verify_files", "run_command", "open_shell", "last_verify"]
