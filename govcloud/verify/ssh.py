"""The SSH connection layer (paramiko): strict host keys, an optional bastion, explicit timeouts.

The only module that imports paramiko (at call time: `govcloud --help` never loads it).

Host keys. Every endpoint comes with the keys it must present, from the stack's
pinned file, the console output, an operator's known_hosts or the site inventory
(the bastion). They are loaded into the client's in-memory host keys only (nothing is
ever saved), the transport offers the server only those key types, and the
missing-host-key policy (`RefuseUnknownHostKey`) raises `HostKeyUnknown` naming the
server and the key it presented: never auto-add, never a prompt. A key that differs
raises `HostKeyChanged` with both fingerprints. With no key to expect, the connection
goes as far as the key exchange (to name the key presented) and no further.

Bastion. paramiko has no ProxyJump: the bastion is an SSH connection of its own
(verified the same way), and the server is reached through a `direct-tcpip`
channel on it, which becomes the socket of the second connection. Each step has its
own timeout: TCP connect, SSH banner (through a proxy the banner comes only once
the bastion has reached the server, hence a separate one), authentication, and
channel open.

Authentication: the key file given (by the site or `--key`, passphrase supported),
else the keys of the SSH agent (SSH_AUTH_SOCK); never ~/.ssh scanning, passwords
or agent forwarding. RSA keys and host keys sign with SHA-2 only (`rsa-sha2-512/256`):
SHA-1 `ssh-rsa` signatures are disabled explicitly whatever paramiko's defaults, so
a server that knows nothing newer (OpenSSH < 7.2) gets a clear "no common
algorithm" error instead of a silent downgrade. Private key material never appears
in a message: errors name the key file, not its content.
"""
from __future__ import annotations

import errno
import logging
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from govcloud import settings
from govcloud.verify.errors import (AuthFailed, ConnectionRefused, HostKeyChanged, HostKeyUnknown, KeyFileError,
                                    Unreachable, VerifyError)
from govcloud.verify.hostkey import HostKey
from govcloud.verify.known_hosts import address_name

# never SHA-1 RSA signatures, for host keys ("keys") or our own ("pubkeys")
NO_SHA1 = {"keys": ["ssh-rsa"], "pubkeys": ["ssh-rsa"]}
_HOST_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}
_OUTPUT_LIMIT = 256 * 1024  # per stream; a check's output is small, a runaway one is cut


@dataclass(frozen=True)
class Endpoint:
    """An SSH server to log in to, and what it must present."""

    who: str  # for messages: "server moe-dev-portal-web-1", "bastion bastion.thr1.gov.example"
    host: str
    port: int
    user: str
    keys: tuple[HostKey, ...]  # the server must present one of these
    where: str = "the pinned known_hosts"  # where `keys` come from, for messages
    unknown_reason: str = "no key is known for it"
    hint: str = ""  # what to do when the key does not match

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0  # TCP connect (and the key exchange)
    banner: float = 15.0  # the server's SSH banner
    auth: float = 15.0
    channel: float = 10.0  # opening a channel (the bastion's direct-tcpip, a command's session)
    command: float = 60.0  # one check command

    def within(self, remaining: float) -> "Timeouts":
        """Every timeout cut to what is left of a deadline (at least half a second)."""
        cap = max(0.5, remaining)
        return Timeouts(*(min(v, cap) for v in (self.connect, self.banner, self.auth, self.channel, self.command)))


@dataclass(frozen=True)
class ClientKeys:
    """Where the private key comes from: a key file (passphrase optional), else the SSH agent."""

    key_file: Path | None = None
    passphrase: str | None = field(default=None, repr=False)

    def check(self) -> None:
        """Fail early (before any server) when there is nothing to log in with."""
        if self.key_file is None:
            if not settings.env("SSH_AUTH_SOCK"):
                raise KeyFileError("no private key to log in with: no key file is named (the site's ssh.keyFile "
                                   "or --key) and no SSH agent runs (SSH_AUTH_SOCK is not set)")
        else:
            self.load()

    def load(self):
        """The key file's private key (paramiko PKey), or None for the agent."""
        if self.key_file is None:
            return None
        import paramiko

        path = Path(self.key_file).expanduser()
        encrypted = KeyFileError(f"the key file {path} is encrypted: give its passphrase in "
                                 f"GOVCLOUD_SSH_KEY_PASSPHRASE, or add the key to the SSH agent")
        try:
            # bytes: the OpenSSH key loader hands it to `cryptography` as is
            return paramiko.PKey.from_path(path, self.passphrase.encode() if self.passphrase else None)
        except paramiko.PasswordRequiredException:
            raise encrypted from None
        except TypeError as exc:  # cryptography's "password-protected, but password was not provided"
            if "password" in str(exc) and not self.passphrase:
                raise encrypted from None
            raise KeyFileError(f"cannot use the key file {path}: {exc}") from None
        except (paramiko.SSHException, ValueError) as exc:
            what = "wrong passphrase, or not a private key" if self.passphrase else "not a private key"
            raise KeyFileError(f"cannot use the key file {path} ({what}: {exc})") from None
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None  # None: timed out or the channel closed without a status
    stdout: str
    stderr: str
    timed_out: bool = False


class Session:
    """A logged-in SSH connection (through the bastion, if any); close it, or use it as a context manager."""

    def __init__(self, client, presented: HostKey, bastion=None, bastion_presented: HostKey | None = None,
                 timeouts: Timeouts = Timeouts()):
        self.client = client
        self.presented = presented
        self.bastion = bastion
        self.bastion_presented = bastion_presented
        self.timeouts = timeouts

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        if self.bastion is not None:
            self.bastion.close()

    def channel(self, timeout: float | None = None):
        """A new session channel (for a command or a shell)."""
        return self.client.get_transport().open_session(timeout=timeout or self.timeouts.channel)

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run one command; its output and exit status, or timed_out after `timeout` seconds.

        A session that breaks meanwhile (the server reboots, sshd's MaxSessions) raises Unreachable."""
        import paramiko

        try:
            return self._run(command, timeout or self.timeouts.command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(f"the SSH session broke while running a check ({exc or type(exc).__name__})") \
                from None

    def _run(self, command: str, limit: float) -> CommandResult:
        chan = self.channel()
        try:
            chan.settimeout(limit)
            chan.exec_command(command)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            end = time.monotonic() + limit
            while True:
                busy = False
                if chan.recv_ready():
                    out += chan.recv(65536)
                    busy = True
                if chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                    busy = True
                del out[:-_OUTPUT_LIMIT], err[:-_OUTPUT_LIMIT]
                if not busy and chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.monotonic() > end:
                    return CommandResult(None, _text(out), _text(err), timed_out=True)
                if not busy:
                    time.sleep(0.01)
            return CommandResult(chan.recv_exit_status(), _text(out), _text(err))
        finally:
            chan.close()


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


def open_session(target: Endpoint, keys: ClientKeys, timeouts: Timeouts = Timeouts(),
                 bastion: Endpoint | None = None) -> Session:
    """Log in to `target` (through `bastion` when given); every failure is a typed VerifyError."""
    pkey = keys.load()
    offered = f"the key file {keys.key_file}" if pkey is not None else "the SSH agent's keys"
    if bastion is None:
        client, presented = _connect(target, pkey, offered, timeouts)
        return Session(client, presented, timeouts=timeouts)
    jump, jump_key = _connect(bastion, pkey, offered, timeouts)
    try:
        chan = _tunnel(jump, bastion, target, timeouts)
        client, presented = _connect(target, pkey, offered, timeouts, sock=chan, via=bastion)
    except BaseException:
        jump.close()
        raise
    return Session(client, presented, jump, jump_key, timeouts)


def probe_port(host: str, port: int, timeout: float) -> str | None:
    """None when host:port accepts a TCP connection (from here), else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except (socket.timeout, TimeoutError):
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


# ---------------------------------------------------------------- paramiko


def _quiet_paramiko() -> None:
    """paramiko logs what it also raises (a banner timeout, a failed channel) at ERROR: without a handler
    Python would print those to stderr beside govcloud's own message. They stay in paramiko's loggers."""
    log = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


class _OpenFailures(logging.Handler):
    """Collects the server's reason for a refused channel: paramiko keeps only the code ("Connect failed"),
    its log line has the text (OpenSSH sends strerror: "Connection refused", "No route to host")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "open FAILED:" in msg:
            self.reasons.append(msg.split("open FAILED:", 1)[1].rsplit(":", 1)[0].strip())


def _refuse_unknown_policy(ep: Endpoint):
    import paramiko

    class RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
        """Never accept a key that is not known: raise, naming the server and the key it presented."""

        def missing_host_key(self, client, hostname, key):
            raise HostKeyUnknown(ep.who, ep.unknown_reason, HostKey(key.get_name(), key.asbytes()))

    return RefuseUnknownHostKey()


def _connect(ep: Endpoint, pkey, offered: str, t: Timeouts, sock=None, via: Endpoint | None = None):
    import paramiko

    _quiet_paramiko()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_refuse_unknown_policy(ep))
    expected = [k for k in ep.keys if k.supported]
    for k in expected:
        client.get_host_keys().add(address_name(ep.host, ep.port), k.type, paramiko.PKey.from_type_string(k.type, k.blob))
    algorithms = [a for k in expected for a in _HOST_KEY_ALGORITHMS.get(k.type, (k.type,))]

    def transport(sock, disabled_algorithms=None):
        tr = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        if algorithms:  # offer the server only the key types we can check
            opts = tr.get_security_options()
            opts.key_types = [a for a in opts.key_types if a in algorithms] or list(opts.key_types)
        return tr

    try:
        client.connect(ep.host, ep.port, username=ep.user, pkey=pkey, allow_agent=pkey is None,
                       look_for_keys=False, timeout=t.connect, banner_timeout=t.banner, auth_timeout=t.auth,
                       channel_timeout=t.channel, sock=sock, disabled_algorithms=NO_SHA1,
                       transport_factory=transport)
    except BaseException as exc:
        client.close()
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise _classify(exc, ep, offered, t, via) from None
    server_key = client.get_transport().get_remote_server_key()
    return client, HostKey(server_key.get_name(), server_key.asbytes())


def _tunnel(jump, bastion: Endpoint, target: Endpoint, t: Timeouts):
    """A direct-tcpip channel from the bastion to the target: the socket of the target's connection."""
    import paramiko

    where = f"{target.address} through the bastion {bastion.address}"
    transport = jump.get_transport()
    channel_log = f"govcloud.verify.bastion.{id(transport)}"
    transport.set_log_channel(channel_log)
    log = logging.getLogger(channel_log)
    log.propagate = False
    failures = _OpenFailures()
    log.addHandler(failures)
    try:
        return transport.open_channel("direct-tcpip", (target.host, target.port), ("127.0.0.1", 0),
                                      timeout=t.channel)
    except paramiko.ChannelException as exc:
        text = failures.reasons[-1] if failures.reasons else str(exc.text or "")
        if "refused" in text.lower():
            raise ConnectionRefused(f"{where}: connection refused ({text})") from None
        if exc.code == 1:  # administratively prohibited: the bastion forbids forwarding
            raise Unreachable(f"{where}: the bastion does not forward connections ({text})", retryable=False) from None
        raise Unreachable(f"{where}: the bastion cannot reach it ({text})") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise Unreachable(f"{where}: no channel within {t.channel:.2g} s ({exc or type(exc).__name__})") from None
    finally:
        log.removeHandler(failures)


def _classify(exc: BaseException, ep: Endpoint, offered: str, t: Timeouts, via: Endpoint | None) -> VerifyError:
    """paramiko's and the socket layer's exceptions, as one failure class each."""
    import paramiko

    if isinstance(exc, VerifyError):
        return exc
    where = ep.address + (f" (through the bastion {via.address})" if via else "")
    if isinstance(exc, paramiko.BadHostKeyException):
        got = exc.key
        return HostKeyChanged(ep.who, ep.keys, HostKey(got.get_name(), got.asbytes()), ep.where, ep.hint)
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthFailed(f"{ep.user}@{where}: the server did not accept {offered}")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(e, "errno", None) for e in exc.errors.values()}
        if codes == {errno.ECONNREFUSED}:
            return ConnectionRefused(f"{where}: connection refused (nothing listens on port {ep.port}, or a "
                                     f"firewall rejects it)")
        return Unreachable(f"{where}: {exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Unreachable(f"{where}: no answer within {t.connect:.2g} s")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"{where}: connection refused")
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "banner" in text.lower():
            return Unreachable(f"{where}: the connection opened but no SSH banner came within {t.banner:.2g} s")
        if "no acceptable host key" in text:
            if ep.keys:
                return HostKeyChanged(ep.who, ep.keys, None, ep.where,
                                      "the server offers none of these key types" + (f"; {ep.hint}" if ep.hint else ""))
            return HostKeyUnknown(ep.who, ep.unknown_reason)
        if "Incompatible" in text or "no acceptable" in text:
            return Unreachable(f"{where}: no SSH algorithms in common ({text}); servers that sign only with SHA-1 "
                               f"RSA (OpenSSH older than 7.2) are not accepted", retryable=False)
        if "No authentication methods available" in text:
            return AuthFailed(f"{ep.user}@{where}: no key to offer (the SSH agent holds none)")
        return Unreachable(f"{where}: SSH failed: {text or type(exc).__name__}")
    if isinstance(exc, EOFError):
        return Unreachable(f"{where}: the server closed the connection during the SSH handshake")
    if isinstance(exc, OSError):
        return Unreachable(f"{where}: {exc.strerror or exc}")
    return Unreachable(f"{where}: {type(exc).__name__}: {exc}", retryable=False)
