"""Pinned host keys per stack, and operator known_hosts files (plain, hashed, wildcards, @revoked).

Hashed entries are made by OpenSSH's own `ssh-keygen -H`, and the pinned file is read back by
`ssh-keygen -F` with the server's name: the formats are OpenSSH's, not only govcloud's.
"""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from govcloud.verify.hostkey import HostKey
from govcloud.verify.known_hosts import OperatorKnownHosts, PinnedKeys, address_name


def new_key(tmp_path: Path, name: str, kind: str = "ed25519") -> HostKey:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(tmp_path / name)], check=True)
    return HostKey.parse((tmp_path / f"{name}.pub").read_text())


def test_pins_round_trip_replace_one_server_and_openssh_reads_them(tmp_path):
    a, b, c = (new_key(tmp_path, n) for n in "abc")
    pins = PinnedKeys(tmp_path / "stack" / "known_hosts")
    assert pins.get("moe-dev-portal-web-1") is None
    pins.pin("moe-dev-portal-web-1", [a, b], server_id="id-1", pinned_at="2026-11-28T10:00:00Z", source="console")
    pins.pin("moe-dev-portal-web-2", [c], server_id="id-2", pinned_at="2026-11-28T10:00:01Z", source="console")
    got = pins.get("moe-dev-portal-web-1")
    assert got.keys == (a, b) and got.server_id == "id-1" and got.source == "console"
    pins.pin("moe-dev-portal-web-1", [c], server_id="id-3", pinned_at="2026-11-28T11:00:00Z", source="console")
    assert pins.get("moe-dev-portal-web-1").keys == (c,) and pins.get("moe-dev-portal-web-1").server_id == "id-3"
    assert pins.get("moe-dev-portal-web-2").keys == (c,)
    # OpenSSH finds the server's key under its name (HostKeyAlias) in the same file
    out = subprocess.run(["ssh-keygen", "-F", "moe-dev-portal-web-2", "-f", str(pins.path)], capture_output=True,
                         text=True)
    assert out.returncode == 0 and c.base64 in out.stdout


def test_parallel_pins_lose_nothing(tmp_path):
    key = new_key(tmp_path, "k")
    pins = PinnedKeys(tmp_path / "known_hosts")
    threads = [threading.Thread(target=pins.pin, args=(f"server-{i}", [key]),
                                kwargs={"server_id": str(i), "pinned_at": "t", "source": "console"}) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(pins.all()) == sorted(f"server-{i}" for i in range(20))


def test_operator_file_plain_port_hashed_wildcard_and_revoked(tmp_path):
    a, b, c, d = (new_key(tmp_path, n) for n in "abcd")
    hashed = tmp_path / "hashed"
    hashed.write_text(f"10.80.0.7 {c.line()}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    hashed_line = hashed.read_text().strip()
    assert hashed_line.startswith("|1|")
    f = tmp_path / "known_hosts"
    f.write_text("\n".join([
        "# operator's file",
        f"moe-dev-portal-web-1,172.24.4.20 {a.line()} comment here",
        f"[127.0.0.1]:2222 {b.line()}",
        hashed_line,
        f"*.thr1.gov.example,!bad.thr1.gov.example {d.line()}",
        f"@revoked * {b.line()}",
        f"@cert-authority *.gov.example {a.line()}",
        "garbage line",
    ]) + "\n")
    kh = OperatorKnownHosts(f)
    assert kh.lookup(["moe-dev-portal-web-1"])[0] == (a,)
    assert kh.lookup(["172.24.4.20"])[0] == (a,)
    assert kh.lookup(["10.80.0.7"])[0] == (c,)  # the hashed entry
    assert kh.lookup(["10.80.0.8"])[0] == ()
    assert kh.lookup(["web.thr1.gov.example"])[0] == (d,)
    assert kh.lookup(["bad.thr1.gov.example"])[0] == ()  # negated
    keys, revoked = kh.lookup(["[127.0.0.1]:2222"])
    assert keys == () and revoked == (b,)  # listed, but revoked
    assert address_name("127.0.0.1", 22) == "127.0.0.1" and address_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"
