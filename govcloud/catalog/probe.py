"""`catalog check --probe`: request every live endpoint and download URL, a few at a time.

Each URL gets one GET with a per-request timeout; at most `MAX_BODY` bytes
are read (enough to show the file is served, without downloading a census).
A status of 400 or more, or no answer, is a failure. Runs at most
`concurrency` requests at once, so a catalog of hundreds of services does
not hammer anyone.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    url: str
    status: int | None  # HTTP status, None when there was no answer
    error: str | None = None
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    def describe(self) -> str:
        if self.status is None:
            return f"{self.url}: no answer ({self.error})"
        return f"{self.url}: HTTP {self.status}" + (f", {self.bytes_read} bytes read" if self.bytes_read else "")


def probe_one(url: str, timeout: float) -> ProbeResult:
    request = urllib.request.Request(url, headers={"User-Agent": "govcloud-catalog-check"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked
            return ProbeResult(url, response.status, bytes_read=len(response.read(MAX_BODY)))
    except urllib.error.HTTPError as exc:
        return ProbeResult(url, exc.code, str(exc.reason))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProbeResult(url, None, f"{type(reason).__name__}: {reason}")


def probe_all(urls: list[str], *, timeout: float = 10.0, concurrency: int = 8) -> list[ProbeResult]:
    """Every URL once (duplicates are requested once), results in the order given."""
    unique = list(dict.fromkeys(urls))
    if not unique:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(unique)))) as pool:
        results = dict(zip(unique, pool.map(lambda u: probe_one(u, timeout), unique)))
    return [results[u] for u in unique]
