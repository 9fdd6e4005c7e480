"""The console-output parser on real console formats, and host keys as data.

The consoles in tests/fixtures/consoles/ follow the text real images print (cloud-init 0.7.9 on CentOS 7
with every line through `logger -t ec2`, cloud-init 21.4 and 25.2 on Ubuntu with syslog-prefixed
fingerprints, cirros' own init, a rebuilt server, a console cut short) with keys made for the tests by
ssh-keygen. Fingerprints are checked against `ssh-keygen -lf`, not against govcloud's own output.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from govcloud.verify.console import boot_finished, console_tail, host_keys_in
from govcloud.verify.hostkey import HostKey, blob_type

CONSOLES = Path(__file__).resolve().parents[1] / "fixtures" / "consoles"


def console(name: str) -> str:
    return (CONSOLES / name).read_bytes().decode("utf-8")


def keygen_fingerprint(line: str, tmp_path: Path) -> str:
    """OpenSSH's own fingerprint of a public key line: 'SHA256:... (TYPE)'."""
    f = tmp_path / "k.pub"
    f.write_text(line + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(f)], capture_output=True, text=True, check=True).stdout.split()
    return f"{out[1]} {out[-1]}"


def key_lines(text: str) -> list[str]:
    """The lines of a fixture that look like public keys (to check the parser against, independently)."""
    out = []
    for line in text.replace("\r", "").splitlines():
        line = line.removeprefix("ec2: ").replace("\x1b[32m", "").replace("\x1b[0m", "")
        if line.split(" ", 1)[0] in ("ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"):
            out.append(line)
    return out


def test_ubuntu_24_04_three_key_types_with_syslog_prefixed_fingerprints(tmp_path):
    text = console("ubuntu-24.04.txt")
    found = host_keys_in(text)
    assert found is not None and found.unreadable == ()
    assert [k.type for k in found.keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    # the fingerprints cloud-init printed above the keys (and ssh-keygen) agree with ours
    for key, line in zip(found.keys, key_lines(text)):
        assert key.label() == keygen_fingerprint(line, tmp_path)
        assert key.fingerprint in text
    assert boot_finished(text)


def test_centos_7_every_line_prefixed_ec2_and_crlf(tmp_path):
    text = console("centos-7-ec2-crlf.txt")
    assert "\r\n" in text
    found = host_keys_in(text)
    assert found is not None
    assert [k.type for k in found.keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    lines = key_lines(text)
    assert [k.label() for k in found.keys] == [keygen_fingerprint(ln, tmp_path) for ln in lines]


def test_a_key_line_cut_short_is_not_taken_the_others_are():
    text = console("ubuntu-20.04-cut-rsa.txt")
    found = host_keys_in(text)
    assert found is not None
    assert [k.type for k in found.keys] == ["ecdsa-sha2-nistp256", "ssh-ed25519"]
    assert len(found.unreadable) == 1 and found.unreadable[0].startswith("ssh-rsa AAAA")


def test_cirros_dss_is_read_but_not_supported():
    found = host_keys_in(console("cirros.txt"))
    assert found is not None
    assert [k.type for k in found.keys] == ["ssh-rsa", "ssh-dss"]
    assert [k.type for k in found.supported] == ["ssh-rsa"]


def test_the_last_complete_block_wins_noise_inside_it_is_skipped(tmp_path):
    text = console("rebuilt-then-cut.txt")
    found = host_keys_in(text)
    assert found is not None
    # the rebuild's keys (ECDSA 384, ED25519, RSA 3072), not the first boot's, not the cut third block
    lines = key_lines(text)
    assert [k.label() for k in found.keys] == [keygen_fingerprint(ln, tmp_path) for ln in lines[2:5]]
    assert found.unreadable == ("random: crng init done",)


def test_no_block_yet_while_booting_and_none_after_a_boot_without_keys():
    booting = console("booting.txt")
    assert host_keys_in(booting) is None and not boot_finished(booting)
    done = console("finished-without-keys.txt")
    assert host_keys_in(done) is None and boot_finished(done)
    # a block begun but not ended counts as none
    assert host_keys_in("-----BEGIN SSH HOST KEY KEYS-----\n" + key_lines(console("ubuntu-24.04.txt"))[0]) is None


def test_console_tail_masks_the_passwords_cloud_init_prints():
    tail = console_tail(console("finished-without-keys.txt"), lines=10)
    assert "Qx7kP2mZ9rTw" not in tail and "hunter2-Not-Shown" not in tail
    assert "ubuntu:[secret]" in tail and "operator:[secret]" in tail
    assert tail.splitlines()[-1].endswith("Up 15.18 seconds")
    assert len(console_tail(console("ubuntu-24.04.txt"), lines=5).splitlines()) == 5


@pytest.mark.parametrize("line, why", [
    ("ssh-ed25519", "expected"),
    ("ssh-ed25519 AAAA!!notbase64", "base64"),
    ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHtOReNwl7HPAz5EUR/6mRdACoNszPBcSS9tCUeot7CE", "does not hold"),  # ed25519 data
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtOReNwl7HPAz5EUR/6mRdACoNszPBc", "does not hold"),  # cut
])
def test_host_key_parse_refuses_what_is_not_a_whole_key(line, why):
    with pytest.raises(ValueError, match=why):
        HostKey.parse(line)


def test_host_key_round_trip_and_blob_type():
    line = key_lines(console("ubuntu-24.04.txt"))[1]
    key = HostKey.parse(line)
    assert key.line() == " ".join(line.split()[:2])
    assert HostKey.parse(key.line()) == key
    assert blob_type(key.blob) == "ssh-ed25519"
    assert blob_type(key.blob + b"\x00") is None  # trailing garbage
    assert blob_type(key.blob[:-1]) is None
