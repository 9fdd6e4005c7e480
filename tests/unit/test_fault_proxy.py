"""The fault-injecting proxy of the dev-cloud fault tests (tests/faults/proxy.py), without a cloud: the
catalog rewriting, the fault schedule, and each fault against a small local HTTP server on loopback."""
from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

from ..faults.proxy import FaultProxy, FaultSchedule, Rule, catalog_origins, origin, replace_origins, rewrite_catalog


def token_doc(*endpoints: tuple[str, str]) -> dict:
    return {"token": {"methods": ["password"], "catalog": [
        {"type": type_, "name": type_, "endpoints": [{"interface": i, "region": "RegionOne", "url": url}
                                                    for i in ("public", "internal")]}
        for type_, url in endpoints]}}


# ---------------------------------------------------------------- the catalog


def test_every_catalog_endpoint_is_rewritten_to_its_listener_and_nothing_else_changes():
    doc = token_doc(("identity", "http://127.0.0.1:5000/v3/"), ("compute", "http://127.0.0.1:8774/v2.1"),
                    ("volumev3", "http://127.0.0.1:8776/v3/abc"), ("block-storage", "http://127.0.0.1:8776/v3/abc"),
                    ("object-store", "http://127.0.0.1:8080/v1/AUTH_abc"), ("network", "http://127.0.0.1:9696"))
    assert catalog_origins(doc) == {"http://127.0.0.1:5000": "identity", "http://127.0.0.1:8774": "compute",
                                    "http://127.0.0.1:8776": "volume", "http://127.0.0.1:8080": "object-store",
                                    "http://127.0.0.1:9696": "network"}
    mapping = {"http://127.0.0.1:5000": "http://127.0.0.1:40001", "http://127.0.0.1:8774": "http://127.0.0.1:40002",
               "http://127.0.0.1:8776": "http://127.0.0.1:40003", "http://127.0.0.1:8080": "http://127.0.0.1:40004",
               "http://127.0.0.1:9696": "http://127.0.0.1:40005"}
    out = rewrite_catalog(doc, mapping)
    urls = {e["type"]: {ep["url"] for ep in e["endpoints"]} for e in out["token"]["catalog"]}
    assert urls == {"identity": {"http://127.0.0.1:40001/v3/"}, "compute": {"http://127.0.0.1:40002/v2.1"},
                    "volumev3": {"http://127.0.0.1:40003/v3/abc"}, "block-storage": {"http://127.0.0.1:40003/v3/abc"},
                    "object-store": {"http://127.0.0.1:40004/v1/AUTH_abc"}, "network": {"http://127.0.0.1:40005"}}
    assert out["token"]["methods"] == ["password"]


def test_an_origin_is_replaced_only_where_it_ends_and_implicit_ports_count():
    assert origin("http://127.0.0.1/v3") == "http://127.0.0.1:80"
    body = b'{"a": "http://127.0.0.1:5000/v3", "b": "http://127.0.0.1:50001/x", "c": "http://127.0.0.1/y"}'
    out = replace_origins(body, {"http://127.0.0.1:5000": "http://127.0.0.1:7", "http://127.0.0.1:80": "http://h:8"})
    assert json.loads(out) == {"a": "http://127.0.0.1:7/v3", "b": "http://127.0.0.1:50001/x", "c": "http://h:8/y"}


# ---------------------------------------------------------------- the schedule


def test_the_nth_matching_call_of_a_service_and_method_gets_the_fault():
    sched = FaultSchedule([Rule("503", service="compute", method="POST", path=r"/servers$", nth=(2,))])
    calls = [("compute", "POST", "/v2.1/servers"), ("compute", "GET", "/v2.1/servers"),
             ("network", "POST", "/v2.0/ports"), ("compute", "POST", "/v2.1/servers/x/action"),
             ("compute", "POST", "/v2.1/servers"), ("compute", "POST", "/v2.1/servers")]
    fired = [sched.decide(*c) is not None for c in calls]
    assert fired == [False, False, False, False, True, False]
    assert sched.seen == [3] and sched.fired == [1]


def test_a_rate_is_seeded_and_limited_and_the_first_rule_that_fires_wins():
    def run(seed):
        s = FaultSchedule([Rule("500", rate=0.3, limit=5), Rule("reset", service="network", nth=(1, 2, 3))], seed)
        return [(r.kind if r else None) for r in (s.decide("network", "GET", "/v2.0/ports") for _ in range(40))]

    first = run(7)
    assert first == run(7) and first != run(8)
    assert first.count("500") == 5
    # the reset rule counts every network call, so it fires on the first three the 500 rule leaves
    assert [k for k in first[:3] if k is not None] == [k or "reset" for k in first[:3]]
    with pytest.raises(ValueError, match="one of 500, 503, 429, slow, reset"):
        Rule("404")
    with pytest.raises(ValueError, match="before or after"):
        Rule("500", when="during")


# ---------------------------------------------------------------- the proxy, against a local server


class FakeCloud(http.server.ThreadingHTTPServer):
    """Keystone's token API and one 'compute' API on one loopback port; counts what reaches it."""

    daemon_threads = True

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, doc: dict, headers=()):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.calls.append(("POST", self.path))
        if self.path == "/v3/auth/tokens":
            self._send(201, token_doc(("identity", f"{self.server.url}/v3/"), ("compute", f"{self.server.url}/v2.1")),
                       [("X-Subject-Token", "tok")])
        else:
            self._send(202, {"server": {"id": "s-1", "echo": body.decode(),
                                        "links": [{"href": f"{self.server.url}/v2.1/servers/s-1"}]}},
                       [("Location", f"{self.server.url}/v2.1/servers/s-1")])

    def do_GET(self):
        self.server.calls.append(("GET", self.path))
        self._send(200, {"servers": []})


@pytest.fixture
def cloud():
    server = FakeCloud()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()


def request(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 10):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=timeout)


def test_a_client_of_the_proxy_only_ever_sees_proxy_addresses(cloud):
    with FaultProxy(f"{cloud.url}/v3") as proxy:
        assert proxy.auth_url.endswith("/v3") and proxy.auth_url != f"{cloud.url}/v3"
        tok = request(f"{proxy.auth_url}/auth/tokens", "POST", b"{}")
        assert tok.status == 201 and tok.headers["X-Subject-Token"] == "tok"
        doc = json.loads(tok.read())
        (compute,) = [e for e in doc["token"]["catalog"] if e["type"] == "compute"]
        url = compute["endpoints"][0]["url"]
        assert url == proxy.auth_url[: -len("/v3")] + "/v2.1"  # Keystone and Nova share an origin here
        created = request(f"{url}/servers", "POST", b'{"server": {"name": "a"}}')
        body = created.read().decode()
        assert created.status == 202 and cloud.url not in body and cloud.url not in created.headers["Location"]
        assert json.loads(body)["server"]["echo"] == '{"server": {"name": "a"}}'
        assert cloud.calls == [("POST", "/v3/auth/tokens"), ("POST", "/v2.1/servers")]
        assert proxy.faults == [] and proxy.calls == {"identity POST": 2}


def test_each_fault_kind_reaches_the_client_and_is_logged(cloud, tmp_path):
    log = tmp_path / "faults.jsonl"
    with FaultProxy(f"{cloud.url}/v3", log_file=log) as proxy:
        base = proxy.auth_url[: -len("/v3")]
        proxy.set_schedule(FaultSchedule([
            Rule("503", method="GET", nth=(1,)), Rule("429", method="GET", nth=(2,), delay=7),
            Rule("500", method="POST", nth=(1,), when="after"), Rule("reset", method="POST", nth=(2,)),
            Rule("slow", method="GET", nth=(3,), delay=1.5)]))
        with pytest.raises(urllib.error.HTTPError) as e503:
            request(f"{base}/v2.1/servers")
        assert e503.value.code == 503 and "injected-fault #1 on identity" in e503.value.read().decode()
        with pytest.raises(urllib.error.HTTPError) as e429:
            request(f"{base}/v2.1/servers")
        assert e429.value.code == 429 and e429.value.headers["Retry-After"] == "7"
        with pytest.raises(urllib.error.HTTPError) as e500:
            request(f"{base}/v2.1/servers", "POST", b"{}")
        assert e500.value.code == 500
        assert cloud.calls == [("POST", "/v2.1/servers")]  # "after": the cloud acted, its answer was lost
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, urllib.error.URLError)):
            request(f"{base}/v2.1/servers", "POST", b"{}")
        assert len(cloud.calls) == 1  # "before": the cloud never saw it
        with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
            request(f"{base}/v2.1/servers", timeout=0.3)  # held back past the client's timeout
        assert request(f"{base}/v2.1/servers").status == 200  # the fourth GET passes
        kinds = [(f.kind, f.method, f.when, f.cloud_status) for f in proxy.faults]
        assert kinds == [("503", "GET", "before", None), ("429", "GET", "before", None),
                         ("500", "POST", "after", 202), ("reset", "POST", "before", None),
                         ("slow", "GET", "before", None)]
        assert proxy.counts() == {"503": 1, "429": 1, "500/after": 1, "reset": 1, "slow": 1}
    assert [json.loads(line)["kind"] for line in log.read_text().splitlines()] == ["503", "429", "500", "reset",
                                                                                    "slow"]


def test_the_proxy_fronts_loopback_apis_only():
    with pytest.raises(ValueError, match="only fronts loopback"):
        FaultProxy("http://192.0.2.1:5000/v3")
