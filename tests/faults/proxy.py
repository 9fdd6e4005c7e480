"""A fault-injecting HTTP proxy between OpenStack clients and the dev cloud's APIs, on loopback only.

Why: the promises "nothing orphaned, nothing duplicated, nothing lost; the failed API named, exit 3"
matter when the cloud misbehaves, and the dev cloud never misbehaves by itself. This test tool makes it.

How: one listener fronts Keystone; a clouds.yaml entry's auth_url points at it. Every token response's
service catalog leads the client to a listener per real API origin (Nova, Neutron, Cinder, Swift, ...,
started when the catalog first names it): every real origin in a JSON body or a Location header is
replaced by its listener's, so a client never learns a real address and every call it makes passes
here. Each call is matched against a `FaultSchedule` (rules per service, method and path: a seeded rate
or the Nth matching call) and either forwarded untouched or given one fault:

  500, 503   an error answer instead of the cloud's;
  429        Too Many Requests with Retry-After;
  slow       the answer held back for `delay` seconds (past a client's timeout);
  reset      the TCP connection reset (RST).

`when="before"`: the cloud never sees the call. `when="after"`: the call is forwarded and acted on, then
its answer is replaced or lost (what a load balancer's 503 or a dropped connection does to a create that
succeeded). Every injected fault is recorded (`FaultProxy.faults`, and a JSON-lines file when given).
"""
from __future__ import annotations

import asyncio
import collections
import json
import random
import re
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
KINDS = ("500", "503", "429", "slow", "reset")
STATUS_TEXT = {500: "Internal Server Error", 503: "Service Unavailable", 429: "Too Many Requests"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "content-length"}
# catalog type -> the service faults are scheduled by (Cinder's types share one API)
SERVICE_OF_TYPE = {"volumev3": "volume", "block-storage": "volume", "volumev2": "volume"}
MARKER = "injected-fault"  # in every error body the proxy makes: a test finds it in the provider's message


# ---------------------------------------------------------------- what to inject


@dataclass(frozen=True)
class Rule:
    """Inject `kind` into calls of `service` with `method` whose path matches `path` (a regex; '' any):
    each such call with probability `rate` (the schedule's seeded random), and the `nth` ones (1-based
    among the matching calls), at most `limit` times."""

    kind: str
    service: str = "*"
    method: str = "*"
    path: str = ""
    rate: float = 0.0
    nth: tuple[int, ...] = ()
    when: str = "before"
    delay: float = 1.0  # slow: seconds held back; 429: Retry-After
    limit: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r}: one of {', '.join(KINDS)}")
        if self.when not in ("before", "after"):
            raise ValueError(f"when={self.when!r}: before or after")

    def matches(self, service: str, method: str, path: str) -> bool:
        return (self.service in ("*", service) and self.method in ("*", method.upper())
                and (not self.path or re.search(self.path, path) is not None))


class FaultSchedule:
    """Which call gets which fault: the first rule that matches and fires wins. Seeded, so a run with the
    same calls in the same order injects the same faults."""

    def __init__(self, rules: Iterable[Rule] = (), seed: int = 0):
        self.rules = tuple(rules)
        self.seed = seed
        self._random = random.Random(seed)
        self.seen = [0] * len(self.rules)  # matching calls per rule
        self.fired = [0] * len(self.rules)
        self._lock = threading.Lock()

    def decide(self, service: str, method: str, path: str) -> Rule | None:
        chosen = None
        with self._lock:
            for i, rule in enumerate(self.rules):
                if not rule.matches(service, method, path):
                    continue
                self.seen[i] += 1
                if chosen is not None or (rule.limit is not None and self.fired[i] >= rule.limit):
                    continue
                if self.seen[i] in rule.nth or (rule.rate > 0 and self._random.random() < rule.rate):
                    self.fired[i] += 1
                    chosen = rule
        return chosen


@dataclass(frozen=True)
class Fault:
    """One injected fault, as logged."""

    seq: int
    at: float
    service: str
    method: str
    path: str
    kind: str
    when: str
    cloud_status: int | None = None  # what the cloud answered (when="after")


# ---------------------------------------------------------------- the catalog


def origin(url: str) -> str:
    """scheme://host:port of a URL, the port always written."""
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"{u.scheme}://{u.hostname}:{port}"


def catalog_origins(token_doc: Any) -> dict[str, str]:
    """{real origin: service} of every endpoint in a Keystone v3 token document's catalog."""
    out: dict[str, str] = {}
    token = token_doc.get("token") if isinstance(token_doc, Mapping) else None
    for entry in (token or {}).get("catalog") or []:
        service = SERVICE_OF_TYPE.get(entry.get("type"), entry.get("type") or "unknown")
        for ep in entry.get("endpoints") or []:
            if isinstance(ep.get("url"), str):
                out.setdefault(origin(ep["url"]), service)
    return out


def replace_origins(body: bytes, mapping: Mapping[str, str]) -> bytes:
    """Every real origin in `body` (also written without its default port) replaced by its proxy origin, in one
    pass; an origin only matches where it ends (`:5000` never inside `:50001`, `http://h` never inside `http://h:1`)."""
    forms: dict[bytes, bytes] = {}
    for real, proxied in mapping.items():
        forms[real.encode()] = proxied.encode()
        if real.endswith((":80", ":443")):
            forms[real.rsplit(":", 1)[0].encode()] = proxied.encode()
    if not forms:
        return body
    alternatives = [re.escape(f) + (rb"(?![0-9])" if re.search(rb":[0-9]+$", f) else rb"(?![0-9:])")
                    for f in sorted(forms, key=len, reverse=True)]
    return re.sub(b"|".join(alternatives), lambda m: forms[m.group(0)], body)


def rewrite_catalog(token_doc: dict, mapping: Mapping[str, str]) -> dict:
    """The token document with each catalog endpoint's URL on its proxy origin (what the proxy sends)."""
    return json.loads(replace_origins(json.dumps(token_doc).encode(), mapping))


# ---------------------------------------------------------------- HTTP/1.1, just enough


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return lines[0], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]], to_eof: bool) -> bytes:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length = _header(headers, "content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read() if to_eof else b""


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER 0, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes, *,
              keep_length: bool = False) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}"]
    head += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    if keep_length:  # HEAD / 304: the entity's length, no body
        head += [f"Content-Length: {v}" for k, v in headers if k.lower() == "content-length"]
    else:
        head.append(f"Content-Length: {len(body)}")
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _error_body(status: int, seq: int, service: str) -> bytes:
    # the shapes OpenStack APIs use ({"<kind>": {"code", "message"}}), with a marker a test can find
    msg = f"{STATUS_TEXT[status]} ({MARKER} #{seq} on {service})"
    return json.dumps({"error": {"code": status, "title": STATUS_TEXT[status], "message": msg}}).encode()


# ---------------------------------------------------------------- the proxy


class FaultProxy:
    """The proxy, its asyncio loop in a daemon thread. `auth_url` is what a clouds.yaml entry points at."""

    def __init__(self, keystone_url: str, schedule: FaultSchedule | None = None, *,
                 log_file: Path | None = None, upstream_timeout: float = 600.0):
        u = urlsplit(keystone_url)
        if u.hostname not in (LOOPBACK, "localhost"):
            raise ValueError(f"{keystone_url}: the proxy only fronts loopback APIs")
        self.keystone_url = keystone_url
        self.schedule = schedule or FaultSchedule()
        self.log_file = log_file
        self.upstream_timeout = upstream_timeout
        self.origins: dict[str, str] = {}  # real origin -> proxy origin
        self.services: dict[str, str] = {}  # real origin -> service
        self.faults: list[Fault] = []
        self.calls: collections.Counter[str] = collections.Counter()  # "service METHOD" -> calls
        self._seq = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._listening: asyncio.Lock | None = None

    # lifecycle

    def start(self) -> "FaultProxy":
        loop = asyncio.new_event_loop()
        ready: list[BaseException | None] = []
        started = threading.Event()

        def run():
            asyncio.set_event_loop(loop)
            try:
                self._listening = asyncio.Lock()
                loop.run_until_complete(self._listen(origin(self.keystone_url), "identity"))
                ready.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                ready.append(exc)
            started.set()
            if ready[0] is None:
                loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        started.wait(30)
        if not ready or ready[0] is not None:
            raise RuntimeError(f"fault proxy did not start: {ready[0] if ready else 'timeout'}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def close():
            for s in self._servers:
                s.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:  # calls still held back (slow) or in flight
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(close(), loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def auth_url(self) -> str:
        u = urlsplit(self.keystone_url)
        return self.origins[origin(self.keystone_url)] + u.path

    def set_schedule(self, schedule: FaultSchedule) -> FaultSchedule:
        """Replace the schedule (between runs); returns the old one."""
        old, self.schedule = self.schedule, schedule
        return old

    def counts(self) -> dict[str, int]:
        """Faults injected by kind ("503", "reset/after", ...)."""
        return dict(collections.Counter(f"{f.kind}/{f.when}" if f.when == "after" else f.kind
                                        for f in self.faults))

    # listeners

    async def _listen(self, real: str, service: str) -> None:
        assert self._listening is not None
        async with self._listening:
            if real in self.origins:
                return
            u = urlsplit(real)
            if u.hostname not in (LOOPBACK, "localhost"):
                raise ValueError(f"{real}: the proxy only fronts loopback APIs")
            server = await asyncio.start_server(lambda r, w: self._serve(service, real, r, w), LOOPBACK, 0,
                                                limit=1 << 20)
            port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
            self.origins[real] = f"{u.scheme}://{LOOPBACK}:{port}"
            self.services[real] = service

    # one call

    def _record(self, service: str, method: str, path: str, rule: Rule, cloud_status: int | None) -> Fault:
        with self._lock:
            self._seq += 1
            fault = Fault(self._seq, time.time(), service, method, path, rule.kind, rule.when, cloud_status)
            self.faults.append(fault)
        if self.log_file is not None:
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(fault)) + "\n")
        return fault

    async def _serve(self, service: str, real: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            start, headers = await _read_head(reader)
            method, target, _ = (start.split(" ", 2) + ["", ""])[:3]
            body = await _read_body(reader, headers, to_eof=False)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            writer.close()
            return
        path = urlsplit(target).path
        with self._lock:
            self.calls[f"{service} {method}"] += 1
        rule = self.schedule.decide(service, method, path)
        try:
            if rule is not None and rule.when == "before":
                if await self._inject(rule, service, method, path, None, writer):
                    return
            status, reason, rheaders, rbody = await self._forward(real, method, target, headers, body)
            if rule is not None and rule.when == "after":
                if await self._inject(rule, service, method, path, status, writer):
                    return
            no_body = method == "HEAD" or status in (204, 304) or status < 200
            if not no_body:
                rbody = await self._rewrite(service, path, status, rheaders, rbody)
            rheaders = [(k, replace_origins(v.encode("latin-1"), self.origins).decode("latin-1"))
                        if k.lower() == "location" else (k, v) for k, v in rheaders]
            writer.write(_response(status, reason, rheaders, rbody, keep_length=no_body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError, asyncio.TimeoutError) as exc:
            try:
                writer.write(_response(502, "Bad Gateway", [("Content-Type", "text/plain")],
                                       f"fault proxy: upstream {real}: {exc}".encode()))
                await writer.drain()
            except (ConnectionError, OSError):
                pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _inject(self, rule: Rule, service: str, method: str, path: str, cloud_status: int | None,
                      writer: asyncio.StreamWriter) -> bool:
        """Inject the rule's fault; False for `slow`, whose answer follows after the delay."""
        fault = self._record(service, method, path, rule, cloud_status)
        if rule.kind == "reset":
            _reset(writer)
            return True
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            return False
        status = int(rule.kind)
        headers = [("Content-Type", "application/json")]
        if status == 429:
            headers.append(("Retry-After", str(max(1, round(rule.delay)))))
        writer.write(_response(status, STATUS_TEXT[status], headers, _error_body(status, fault.seq, service)))
        await writer.drain()
        return True

    async def _forward(self, real: str, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        u = urlsplit(real)
        r, w = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port), 30)
        try:
            head = [f"{method} {target} HTTP/1.1", f"Host: {u.hostname}:{u.port}"]
            head += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "host"]
            if body or method in ("POST", "PUT", "PATCH"):
                head.append(f"Content-Length: {len(body)}")
            head.append("Connection: close")
            w.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await w.drain()

            async def answer():
                line, rheaders = await _read_head(r)
                parts = line.split(" ", 2)
                status = int(parts[1])
                no_body = method == "HEAD" or status in (204, 304) or status < 200
                rbody = b"" if no_body else await _read_body(r, rheaders, to_eof=True)
                return status, (parts[2] if len(parts) > 2 else ""), rheaders, rbody

            return await asyncio.wait_for(answer(), self.upstream_timeout)
        finally:
            w.close()

    async def _rewrite(self, service: str, path: str, status: int, headers: list[tuple[str, str]],
                       body: bytes) -> bytes:
        if "json" not in (_header(headers, "content-type") or "") or not body:
            return body
        if service == "identity" and path.rstrip("/").endswith("/auth/tokens") and 200 <= status < 300:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            for real, svc in catalog_origins(doc).items():
                await self._listen(real, svc)
        return replace_origins(body, self.origins)
