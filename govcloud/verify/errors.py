"""The refusals and failures of verify and ssh, as typed errors (exit 1 through the CLI's one mapping).

Each per-server error names its failure class; `retryable` ones (the server may still
be booting) are tried again with backoff until the server's deadline. A host key
that is unknown or changed is never retried and never a prompt: the message names
the server and the fingerprints, and says what would fix it.
"""
from __future__ import annotations

from typing import Sequence

from govcloud.errors import GovcloudError
from govcloud.verify.hostkey import HostKey, labels
from govcloud.verify.model import Failure


class VerifyError(GovcloudError):
    """A server could not be verified; `failure` is its class."""

    exit_code = 1
    failure = Failure.CHECK_FAILED
    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class Unreachable(VerifyError):
    failure = Failure.UNREACHABLE
    retryable = True


class ConnectionRefused(VerifyError):
    failure = Failure.REFUSED
    retryable = True


class AuthFailed(VerifyError):
    failure = Failure.AUTH_FAILED


class StillBooting(VerifyError):
    """Not ready yet (console not ready, no host keys printed yet, cloud-init running)."""

    failure = Failure.BOOT_TIMEOUT
    retryable = True


class HostKeyUnknown(VerifyError):
    failure = Failure.HOST_KEY_UNKNOWN

    def __init__(self, who: str, why: str, presented: HostKey | None = None):
        self.who, self.presented = who, presented
        shown = f"; it presented {presented.label()}" if presented is not None else ""
        super().__init__(f"host key of {who} is unknown{shown}: {why}. Refused: govcloud never accepts a host "
                         f"key it cannot check")


class HostKeyChanged(VerifyError):
    failure = Failure.HOST_KEY_CHANGED

    def __init__(self, who: str, expected: Sequence[HostKey], presented: HostKey | None, where: str,
                 hint: str = ""):
        self.who, self.expected, self.presented = who, tuple(expected), presented
        got = presented.label() if presented is not None else "a key of none of these types"
        super().__init__(f"host key of {who} does not match: {where} has {labels(expected)}, the server presented "
                         f"{got}. Refused (someone may be intercepting the connection)" + (f"; {hint}" if hint else ""))


class KeyFileError(GovcloudError):
    """The private key cannot be used (missing, unreadable, encrypted without a passphrase)."""

    exit_code = 1


class ServerNotFound(GovcloudError):
    exit_code = 1

