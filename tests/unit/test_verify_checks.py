"""The check parsers on the outputs real servers give: cloud-init status of several versions, lsblk, df."""
from __future__ import annotations

import subprocess

import pytest

from govcloud.verify.checks import (GIB, Disk, VolumeExpectation, match_volumes, parse_cloud_init_status,
                                    parse_headroom, parse_lsblk)

# cloud-init 21.4 (Ubuntu 20.04)
DONE_21 = """status: done
time: Thu, 06 Jan 2022 15:27:32 +0000
detail:
DataSourceNoCloud [seed=/dev/vda][dsmode=net]
"""
# cloud-init 24.x: done, nothing to say
DONE_24 = """status: done
extended_status: done
boot_status_code: enabled-by-generator
last_update: Thu, 01 Jan 1970 00:00:42 +0000
detail:
DataSourceOpenStackLocal [net,ver=2]
errors: []
recoverable_errors: {}
"""
# cloud-init 24.x: done with deprecation warnings (exit 2)
DEGRADED_24 = """status: done
extended_status: degraded done
boot_status_code: enabled-by-generator
last_update: Thu, 01 Jan 1970 00:00:42 +0000
detail:
DataSourceOpenStackLocal [net,ver=2]
errors: []
recoverable_errors:
DEPRECATED:
\t- Key 'ssh_authorized_keys' is deprecated in 22.2
"""
ERROR_24 = """status: error
extended_status: error - done
boot_status_code: enabled-by-generator
last_update: Thu, 01 Jan 1970 00:00:43 +0000
detail:
DataSourceOpenStackLocal [net,ver=2]
errors:
\t- ('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in 1 attempted commands'))
recoverable_errors: {}
"""
RUNNING_24 = """status: running
extended_status: running
boot_status_code: enabled-by-generator
last_update: Thu, 01 Jan 1970 00:00:12 +0000
detail:
Running in stage: modules-config
errors: []
recoverable_errors: {}
"""


@pytest.mark.parametrize("code, text, state, words", [
    (0, DONE_21, "ok", "DataSourceNoCloud"),
    (0, DONE_24, "ok", "DataSourceOpenStackLocal"),
    (2, DEGRADED_24, "ok", "deprecated"),
    (1, ERROR_24, "failed", "Runparts: 1 failures"),
    (0, RUNNING_24, "booting", "modules-config"),
    (0, "status: not started\n", "booting", "not started"),
    (0, "status: disabled\n", "failed", "disabled"),
    (127, "cloud-init: not found\n", "failed", "not installed"),
    (0, 'result.json:{"v1": {"datasource": "DataSourceOpenStack [net,ver=2]", "errors": []}}', "ok", "OpenStack"),
    (0, 'result.json:{"v1": {"datasource": null, "errors": ["ssh: failed"]}}', "failed", "ssh: failed"),
    (0, "result.json:\n", "booting", "not written yet"),
])
def test_cloud_init_status(code, text, state, words):
    got, detail = parse_cloud_init_status(code, text)
    assert got == state
    assert words in detail


def test_lsblk_disks_and_volumes_by_serial_then_by_size():
    text = ('NAME="vda" SIZE="21474836480" SERIAL="" TYPE="disk"\n'
            'NAME="vdb" SIZE="1073741824" SERIAL="3f2b7c1e-9d0a-4c5e-8" TYPE="disk"\n'
            'NAME="vdc" SIZE="53687091200" SERIAL="" TYPE="disk"\n'
            'NAME="sr0" SIZE="1073741824" SERIAL="QM00003" TYPE="rom"\n'
            "---\n/dev/vda1\n")
    disks, root = parse_lsblk(text)
    assert [d.name for d in disks] == ["vda", "vdb", "vdc"] and root == "/dev/vda1"
    want = [VolumeExpectation("data", 1, "3f2b7c1e-9d0a-4c5e-8a1b-0c2d3e4f5a6b"),
            VolumeExpectation("logs", 50, "aaaaaaaa-0000-0000-0000-000000000000"),
            VolumeExpectation("backup", 20, "bbbbbbbb-0000-0000-0000-000000000000")]
    results = match_volumes(want, disks, root)
    assert [(r.name, r.ok) for r in results] == [("volume:data", True), ("volume:logs", True),
                                                 ("volume:backup", False)]
    assert "/dev/vdb" in results[0].detail and "/dev/vdc" in results[1].detail
    # 20 GiB is only the root disk: never taken for a volume
    assert "not visible" in results[2].detail


def test_a_volume_found_by_serial_with_another_size_fails():
    disks = [Disk("vdb", 2 * GIB, "3f2b7c1e-9d0a-4c5e-8")]
    (r,) = match_volumes([VolumeExpectation("data", 1, "3f2b7c1e-9d0a-4c5e-8a1b-0c2d3e4f5a6b")], disks, "/dev/vda1")
    assert not r.ok and "2.0 GiB" in r.detail and "1 GiB" in r.detail


def test_headroom_from_this_machines_df_and_meminfo():
    out = subprocess.run(["sh", "-c", "LC_ALL=C df -P -k /; echo ---; cat /proc/meminfo"], capture_output=True,
                         text=True, check=True).stdout
    disk, memory = parse_headroom(out)
    # against the same numbers read another way
    row = out.split("---")[0].splitlines()[-1].split()
    assert disk == pytest.approx(100 * int(row[3]) / (int(row[2]) + int(row[3])))
    mem = dict(line.split(":", 1) for line in open("/proc/meminfo").read().splitlines())
    assert 0 < memory <= 100 and memory == pytest.approx(
        100 * int(mem["MemAvailable"].split()[0]) / int(mem["MemTotal"].split()[0]), abs=5)


def test_headroom_parse_of_a_full_disk_and_an_old_kernel():
    text = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda1 1000 990 10 99% /\n---\n"
            "MemTotal: 1000 kB\nMemFree: 50 kB\nBuffers: 10 kB\nCached: 40 kB\n")
    disk, memory = parse_headroom(text)
    assert disk == pytest.approx(1.0) and memory == pytest.approx(10.0)
    assert parse_headroom("garbage") == (None, None)
