"""Cost: figures recomputed by hand from the rate card in inventories/sites/thr1.yaml."""
from decimal import Decimal

import yaml

from govcloud.config import ConfigRepo
from govcloud.check import Workspace

from ..conftest import EXAMPLES, REPO


def rates(site):
    return yaml.safe_load((REPO / "inventories" / "sites" / f"{site}.yaml").read_text())["rateCard"]


def test_patient_portal_monthly_cost_by_hand():
    r = rates("thr1")
    plan, est = Workspace(ConfigRepo(None)).cost(EXAMPLES / "moh" / "patient-portal.yaml")
    # web-app blueprint: 2 x medium (2 vCPU, 4096 MB) with a public IP; the manifest
    # grows each data volume to 50 GB and adds a 100 GB bucket
    server = 2 * 730 * r["vcpuHour"] + 4 * 730 * r["ramGbHour"]
    by_hand = 2 * server + 2 * 50 * r["volumeGbMonth"] + 2 * 730 * r["floatingIpHour"] + 100 * r["bucketGbMonth"]
    assert by_hand == 62_710_000
    assert est.total == Decimal(by_hand)
    assert est.by_resource()["server-web-1"] == Decimal(server)
    assert est.currency == "IRR"


def test_batch_cluster_at_isfahan_by_hand():
    r = rates("isf1")
    plan, est = Workspace(ConfigRepo(None)).cost(EXAMPLES / "intax" / "batch-cluster.yaml")
    # 6 x large (4 vCPU, 16384 MB) + 6 x 80 GB scratch + 800 GB bucket, no public IPs
    by_hand = 6 * (4 * 730 * r["vcpuHour"] + 16 * 730 * r["ramGbHour"]) + 6 * 80 * r["volumeGbMonth"] \
        + 800 * r["bucketGbMonth"]
    assert est.total == Decimal(by_hand)
    assert sum(1 for line in est.lines if line.meter == "vCPU-hours") == 6


def test_fractional_ram_is_exact(write):
    from ..conftest import VALID

    ws = Workspace(ConfigRepo(None))
    # isf1 'small' has 2048 MB; a 1536 MB flavor would give 1.5 GB: check Decimal math on a custom figure
    plan, est = ws.cost(write("m.yaml", VALID))
    ram = next(l for l in est.lines if l.meter == "RAM GB-hours")
    assert ram.quantity == Decimal(4) * 730 and isinstance(ram.monthly, Decimal)
    assert est.to_json()["total"] == str(est.total)
