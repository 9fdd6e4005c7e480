"""Cross-checks against the inventory, with 'did you mean' suggestions."""
import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.inventory import Inventory
from govcloud.check import Workspace

from ..conftest import VALID


def problems(write, text):
    path = write("m.yaml", text)
    with pytest.raises(InputError) as exc:
        Workspace(ConfigRepo(None)).check(path)
    return exc.value.problems


def test_unknown_site_size_image_volume_type_and_agency_all_reported(write):
    text = (VALID.replace("site: thr1", "site: thr2").replace("agency: moh", "agency: mho"))
    probs = problems(write, text)
    assert [p.path for p in probs] == ["metadata.agency", "spec.site"]
    assert "did you mean 'moh'?" in probs[0].hint and probs[0].location.line == 5
    assert "did you mean 'thr1'?" in probs[1].hint and "one of: devcloud, isf1, ist1, thr1" in probs[1].hint


def test_unknown_size_image_and_volume_type(write):
    text = (VALID.replace("size: medium", "size: meduim").replace("image: ubuntu-22.04", "image: ubuntu-2204")
            .replace("type: standard", "type: ssd"))
    probs = problems(write, text)
    assert [(p.path, p.location.line) for p in probs] == [
        ("spec.servers[0].size", 18), ("spec.servers[0].image", 19), ("spec.servers[0].volumes[0].type", 24)]
    assert "did you mean 'medium'?" in probs[0].hint
    assert "did you mean 'ubuntu-22.04'?" in probs[1].hint
    assert "one of: encrypted, fast, standard" in probs[2].hint


def test_agency_not_allowed_on_site(write):
    (p,) = problems(write, VALID.replace("agency: moh", "agency: moe").replace("site: thr1", "site: isf1"))
    assert "may not deploy to site 'isf1'" in p.message and "thr1, devcloud" in p.hint


def test_shipped_inventory_is_realistic():
    inv = Inventory(ConfigRepo(None))
    assert len(inv.agency_ids()) >= 6
    sites = inv.sites()
    assert {"thr1", "isf1", "devcloud"} <= {s.name for s in sites}
    for site in sites:
        assert site.rate_card.currency == "IRR"
        for agency in inv.registry.agencies:
            for s in agency.allowed_sites:
                assert s in inv.site_names()
        assert any(a.name.fa for a in inv.registry.agencies)


def test_bad_site_file_is_located(tmp_path):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    sites = tmp_path / "inventories" / "sites"
    sites.mkdir(parents=True)
    (sites / "lab.yaml").write_text(
        "name: lab\ntitle: {fa: آزمایشگاه, en: Lab}\ncloud: lab\nregion: r\nresidency: local\n"
        "externalNetwork: ext\nsizes: {s: {flavor: f, vcpus: 0, ramMb: 512, diskGb: 1}}\n"
        "images: {u: {image: u, os: ubuntu}}\nvolumeTypes: {standard: {name: x}}\n"
        "rateCard: {vcpuHour: 1, ramGbHour: 1, volumeGbMonth: x, bucketGbMonth: 1, floatingIpHour: 1}\n")
    with pytest.raises(InputError) as exc:
        Inventory(ConfigRepo(tmp_path)).site("lab")
    got = [(p.path, p.location.line) for p in exc.value.problems]
    assert got == [("residency", 5), ("sizes.s.vcpus", 7), ("rateCard.volumeGbMonth", 10)]
    assert all(p.location.file.endswith("lab.yaml") for p in exc.value.problems)


def test_config_repo_overrides_defaults(tmp_path):
    (tmp_path / "govcloud.yaml").write_text("kind: Config\n")
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "agencies.yaml").write_text(
        "agencies:\n  - id: lab\n    name: {fa: آزمایشگاه, en: Lab}\n    project: p-lab\n"
        "    quotas: {vcpus: 1, ramGb: 1, volumeGb: 1, floatingIps: 0, buckets: 0}\n    allowedSites: [thr1]\n")
    inv = Inventory(ConfigRepo(tmp_path))
    assert inv.agency_ids() == ["lab"]
    assert inv.site("thr1") is not None  # sites still come from the defaults
