"""SSH public host keys as data: parsed from `type base64` text, compared by blob, shown by fingerprint.

Pure Python (no paramiko): the console-output parser, the known_hosts files and the
site inventory's bastion keys all go through `HostKey.parse`, and a key is only ever
shown as its SHA256 fingerprint in OpenSSH's own notation (`SHA256:` + unpadded
base64 of the blob's digest), so what govcloud prints can be compared by eye with
`ssh-keygen -lf` and with what cloud-init prints on the console.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

# the key types govcloud can verify (paramiko implements them); others are read and ignored
SUPPORTED_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_SHORT = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA", "ecdsa-sha2-nistp256": "ECDSA",
          "ecdsa-sha2-nistp384": "ECDSA", "ecdsa-sha2-nistp521": "ECDSA"}


@dataclass(frozen=True, slots=True)
class HostKey:
    type: str  # the key's own name, e.g. ssh-ed25519 (an RSA key is "ssh-rsa" whatever it signs with)
    blob: bytes  # the public key in SSH wire format

    @classmethod
    def parse(cls, text: str) -> "HostKey":
        """`type base64 [comment]` -> HostKey; ValueError unless the blob is well formed and names `type`."""
        parts = text.strip().split()
        if len(parts) < 2:
            raise ValueError("expected 'type base64'")
        ktype, b64 = parts[0], parts[1]
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{ktype}: the key is not valid base64") from None
        if blob_type(blob) != ktype:
            raise ValueError(f"{ktype}: the key data does not hold a {ktype} key (truncated or damaged?)")
        return cls(ktype, blob)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode("ascii")

    @property
    def fingerprint(self) -> str:
        """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    @property
    def supported(self) -> bool:
        return self.type in SUPPORTED_TYPES

    def line(self) -> str:
        """`type base64`, as in known_hosts."""
        return f"{self.type} {self.base64}"

    def label(self) -> str:
        """`SHA256:... (ED25519)`: how keys are named in every message."""
        return f"{self.fingerprint} ({_SHORT.get(self.type, self.type)})"


_FIELDS = {"ssh-ed25519": 2, "ssh-rsa": 3, "ssh-dss": 5, "ecdsa-sha2-nistp256": 3, "ecdsa-sha2-nistp384": 3,
           "ecdsa-sha2-nistp521": 3}


def blob_type(blob: bytes) -> str | None:
    """The key type a wire-format blob holds, or None when it is not a whole, well-formed key.

    The blob must be exactly a sequence of length-prefixed fields, as many as its type has (a console line
    cut short or mixed with a kernel message fails here instead of being pinned).
    """
    fields: list[bytes] = []
    i = 0
    while i < len(blob):
        if len(blob) - i < 4:
            return None
        (n,) = struct.unpack(">I", blob[i:i + 4])
        if n > len(blob) - i - 4:
            return None
        fields.append(blob[i + 4:i + 4 + n])
        i += 4 + n
    if not fields:
        return None
    try:
        ktype = fields[0].decode("ascii")
    except UnicodeDecodeError:
        return None
    want = _FIELDS.get(ktype)
    if want is None:  # a type we do not know the layout of: take its word
        return ktype if len(fields) >= 2 and ktype.isprintable() else None
    if len(fields) != want:
        return None
    if ktype == "ssh-ed25519" and len(fields[1]) != 32:
        return None
    if ktype.startswith("ecdsa-sha2-") and fields[1] != ktype.rsplit("-", 1)[1].encode():
        return None
    return ktype


def labels(keys) -> str:
    """Several keys for a message: `SHA256:a (ED25519), SHA256:b (RSA)` (or `none`)."""
    return ", ".join(k.label() for k in keys) or "none"
