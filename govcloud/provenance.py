"""Who runs govcloud, where, when and on what: the facts that audit records, lock files and saved plans stamp.

One helper each, so that a lock file, an audit record and a saved plan name the same user, the same
clock (UTC, ISO 8601, whole seconds, `Z`) and the same manifest digest.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import os
import socket
from pathlib import Path

from govcloud.settings import env


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second: `2026-11-28T13:05:12Z`."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def user_name() -> str:
    """The login name of this process (its uid when the system has no name for it)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error (getpass raises OSError or KeyError)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def who() -> tuple[str, str]:
    """(user, host) of this process; SUDO_USER is kept alongside when someone ran govcloud through sudo."""
    user = user_name()
    sudo = env("SUDO_USER")
    if sudo and sudo != user:
        user = f"{user} (sudo by {sudo})"
    return user, socket.gethostname()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (a manifest's digest in saved plans and audit records); OSError if unreadable."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
