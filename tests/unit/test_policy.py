"""The baseline policy pack: each rule fails what it should and passes what it should."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.check import Workspace
from govcloud.policy import ADVISORY, MANDATORY, builtin_rules, evaluate

# staging, internal, public web tier: no rule of the pack has anything to say about it
from govcloud.check import check_paths

# staging, internal, public web tier: no rule of the pack has anything to say about it
BASE = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: library-portal
  agency: moe
  environment: staging
  owner: infra@moe.gov.example
  costCenter: MOE-LIB-001
  classification: internal
spec:
  site: thr1
  network:
    cidr: 10.90.0.0/24
    ingress:
      - {name: https, port: 443, protocol: tcp, from: 0.0.0.0/0}
      - {name: ssh, port: 22, protocol: tcp, from: 10.0.0.0/8}
  servers:
    - name: web
      size: medium
      image: ubuntu-22.04
      count: 2
      publicIp: true
      volumes:
        - {name: data, sizeGb: 20, type: standard}
      healthCheck: {port: 443}
  buckets:
    - {name: uploads, public: false, quotaGb: 10}
"""


def edit(text: str, *pairs: str) -> str:
    """BASE with replacements: edit(BASE, old1, new1, old2, new2, ...); each old must be there."""
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def ws():
    return Workspace(ConfigRepo(None))


@pytest.fixture
def run(write, ws):
    """run(text, *more_texts) -> findings about the first file (all checked together)."""

    def _run(*texts: str, policy: str | None = None):
        paths = [write(f"m{i}.yaml", t) for i, t in enumerate(texts)]
        workspace = ws
        if policy is not None:
            root = paths[0].parent
            (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
            (root / "policies.yaml").write_text(textwrap.dedent(policy))
            workspace = Workspace(ConfigRepo(root))
        results, report = check_paths(paths, workspace)
        for r in results:  # every file loads and compiles: only policy findings are under test
            assert r.plan is not None, [p.format() for p in r.problems]
        return report.for_file(str(paths[0])), report, results

    return _run


def ids(found) -> list[str]:
    return sorted(f.rule_id for f in found)


def test_base_manifest_passes_every_rule(run):
    found, report, results = run(BASE)
    assert found == [] and not report.failed and results[0].ok
    assert len(report.rules) == len(builtin_rules()) >= 16


def test_every_rule_has_the_documented_shape():
    seen = set()
    for r in builtin_rules():
        assert r.id.startswith("GC") and r.id not in seen
        seen.add(r.id)
        assert r.title and r.hint and r.resource and r.description, r.id
        assert r.severity in (MANDATORY, ADVISORY)


# -- GC001 admin ports -----------------------------------------------------------------------------

def test_gc001_ssh_from_anywhere_fails_at_the_from_field(run):
    found, *_ = run(edit(BASE, "port: 22, protocol: tcp, from: 10.0.0.0/8", "port: 22, protocol: tcp, from: 0.0.0.0/0"))
    (f,) = found
    assert f.rule_id == "GC001" and f.severity == MANDATORY and f.path == "spec.network.ingress[1].from"
    assert f.location.line == 16 and "SSH 22" in f.message


@pytest.mark.parametrize("rule", [
    "{name: db, port: 5400, portMax: 5500, protocol: tcp, from: '::/0'}",  # a range covering PostgreSQL
    "{name: rdp, port: 3389, protocol: udp, from: 0.0.0.0/0}",
    "{name: redis, port: 6379, protocol: tcp, from: 0.0.0.0/0}",
])
def test_gc001_ranges_ipv6_and_other_admin_ports(run, rule):
    found, *_ = run(edit(BASE, "      - {name: ssh,", f"      - {rule}\n      - {{name: ssh,"))
    assert ids(found) == ["GC001"]


@pytest.mark.parametrize("source", ["10.0.0.0/8", "203.0.113.0/24"])
def test_gc001_ssh_from_a_network_or_https_from_anywhere_passes(run, source):
    found, *_ = run(edit(BASE, "port: 22, protocol: tcp, from: 10.0.0.0/8", f"port: 22, protocol: tcp, from: {source}"))
    assert "GC001" not in ids(found)


# -- GC002 internet ingress to restricted/secret ---------------------------------------------------

RESTRICTED = edit(BASE, "classification: internal", "classification: restricted", "publicIp: true", "publicIp: false",
                  "type: standard", "type: encrypted", "from: 0.0.0.0/0", "from: 10.20.0.0/16")


def test_restricted_base_passes(run):
    found, *_ = run(RESTRICTED)
    assert found == []


@pytest.mark.parametrize("source", ["0.0.0.0/0", "'::/0'", "203.0.113.0/24", "100.64.0.0/10"])
def test_gc002_any_non_private_source_fails_for_restricted_and_secret(run, source):
    for cls in ("restricted", "secret"):
        text = edit(RESTRICTED, "from: 10.20.0.0/16", f"from: {source}", "classification: restricted",
                    f"classification: {cls}")
        found, *_ = run(text)
        assert ids(found) == ["GC002"], (cls, source)
        assert found[0].path == "spec.network.ingress[0].from" and found[0].location.line == 15


def test_gc002_internal_service_may_take_internet_traffic(run):
    found, *_ = run(edit(RESTRICTED, "classification: restricted", "classification: internal",
                         "from: 10.20.0.0/16", "from: 0.0.0.0/0"))
    assert "GC002" not in ids(found)


def test_gc002_trusted_networks_setting(run):
    text = edit(RESTRICTED, "from: 10.20.0.0/16", "from: 100.64.3.0/24")
    found, *_ = run(text, policy="settings: {trustedNetworks: [10.0.0.0/8, 100.64.0.0/10]}\n")
    assert found == []


# -- GC003 residency -------------------------------------------------------------------------------

SCI_IST1 = edit(BASE, "agency: moe", "agency: sci", "site: thr1", "site: ist1", "publicIp: true", "publicIp: false",
                "from: 0.0.0.0/0", "from: 10.0.0.0/8",
                "      volumes:\n        - {name: data, sizeGb: 20, type: standard}\n", "")


def test_gc003_restricted_abroad_fails_on_spec_site(run):
    found, *_ = run(edit(SCI_IST1, "classification: internal", "classification: secret"))
    assert ids(found) == ["GC003"] and found[0].path == "spec.site" and found[0].location.line == 11


def test_gc003_internal_abroad_and_restricted_at_home_pass(run):
    assert run(SCI_IST1)[0] == []
    found, *_ = run(edit(SCI_IST1, "classification: internal", "classification: restricted",
                         "site: ist1", "site: thr1"))
    assert found == []


# -- GC004 encryption ------------------------------------------------------------------------------

def test_gc004_unencrypted_volume_of_restricted_service_fails(run):
    found, *_ = run(edit(RESTRICTED, "type: encrypted", "type: fast"))
    (f,) = found
    assert f.rule_id == "GC004" and f.path == "spec.servers[0].volumes[0].type" and f.location.line == 24
    assert "encrypted types at thr1: encrypted" in f.message


def test_gc004_internal_service_may_use_plain_volumes(run):
    assert "GC004" not in ids(run(BASE)[0])


# -- GC005 public buckets --------------------------------------------------------------------------

def test_gc005_public_bucket_outside_public_classification_fails(run):
    for cls in ("internal", "restricted"):
        text = edit(RESTRICTED if cls == "restricted" else BASE, "public: false, quotaGb", "public: true, quotaGb")
        found, *_ = run(text)
        assert ids(found) == ["GC005"] and found[0].path == "spec.buckets[0].public"


def test_gc005_public_service_may_publish_buckets(run):
    found, *_ = run(edit(BASE, "public: false, quotaGb", "public: true, quotaGb", "classification: internal",
                         "classification: public"))
    assert found == []


def test_gc005_points_into_the_blueprint_when_the_blueprint_makes_it_public(run, write):
    text = edit(BASE, "spec:\n  site: thr1", "spec:\n  blueprint: open-data\n  site: thr1",
                "  buckets:\n    - {name: uploads, public: false, quotaGb: 10}\n", "")
    found, *_ = run(text)
    (f,) = [f for f in found if f.rule_id == "GC005"]
    assert f.location.file.endswith("stacks/open-data.yaml") and "datasets" in f.message


# -- GC006 public IPs ------------------------------------------------------------------------------

def test_gc006_public_ip_without_internet_ingress_fails(run):
    found, *_ = run(edit(BASE, "from: 0.0.0.0/0", "from: 10.0.0.0/8"))
    (f,) = found
    assert f.rule_id == "GC006" and f.path == "spec.servers[0].publicIp" and f.location.line == 22
    assert "no ingress rule admits the internet" in f.message


def test_gc006_public_ip_on_restricted_service_fails_even_with_internet_ingress(run):
    found, *_ = run(edit(RESTRICTED, "publicIp: false", "publicIp: true"))
    assert ids(found) == ["GC006"] and "restricted" in found[0].message


def test_gc006_public_ip_of_a_public_facing_internal_service_passes(run):
    assert "GC006" not in ids(run(BASE)[0])


# -- GC007 owner and cost center -------------------------------------------------------------------

def test_gc007_missing_cost_center_and_owner(run):
    found, *_ = run(edit(BASE, "  owner: infra@moe.gov.example\n", "", "  costCenter: MOE-LIB-001\n", ""))
    assert [(f.rule_id, f.path, f.location.line) for f in found] == [
        ("GC007", "metadata.owner", 3), ("GC007", "metadata.costCenter", 3)]


def test_gc007_owner_and_cost_center_present_pass(run):
    assert "GC007" not in ids(run(BASE)[0])


# -- GC008 approved images -------------------------------------------------------------------------

def test_gc008_unapproved_image_fails(run):
    found, *_ = run(edit(BASE, "image: ubuntu-22.04", "image: windows-2022"))
    assert ids(found) == ["GC008"] and found[0].path == "spec.servers[0].image"
    found, *_ = run(edit(BASE, "image: ubuntu-22.04", "image: centos-7", "site: thr1", "site: isf1", "agency: moe",
                         "agency: moh"))
    assert ids(found) == ["GC008"] and "not approved at isf1" in found[0].message


def test_gc008_approved_image_passes(run):
    assert "GC008" not in ids(run(edit(BASE, "image: ubuntu-22.04", "image: rocky-9"))[0])


# -- GC009 size ceiling ----------------------------------------------------------------------------

def test_gc009_xlarge_in_dev_or_test_fails(run):
    for env, size in (("dev", "xlarge"), ("test", "2xlarge")):
        found, *_ = run(edit(BASE, "environment: staging", f"environment: {env}", "size: medium", f"size: {size}"))
        assert ids(found) == ["GC009"], env
        assert found[0].path == "spec.servers[0].size" and "small, medium, large" in found[0].hint


def test_gc009_the_ceiling_is_by_resources_at_the_site(run):
    # isf1's large has 16 GB RAM (within 4 vCPU / 16 GB); devcloud's xlarge has 8 vCPUs (above)
    assert run(edit(BASE, "environment: staging", "environment: dev", "size: medium", "size: large",
                    "site: thr1", "site: isf1", "agency: moe", "agency: moh"))[0] == []
    found, *_ = run(edit(BASE, "environment: staging", "environment: dev", "size: medium", "size: xlarge",
                         "site: thr1", "site: devcloud"))
    assert ids(found) == ["GC009"]


def test_gc009_large_in_dev_and_xlarge_in_staging_pass(run):
    assert run(edit(BASE, "environment: staging", "environment: dev", "size: medium", "size: large"))[0] == []
    assert run(edit(BASE, "size: medium", "size: 2xlarge"))[0] == []


def test_gc009_ceiling_is_a_setting(run):
    text = edit(BASE, "environment: staging", "environment: dev", "size: medium", "size: xlarge")
    assert run(text, policy="settings:\n  sizeCeiling: {dev: {vcpus: 8, ramGb: 32}}\n")[0] == []
    assert run(text, policy="settings:\n  sizeCeiling: {dev: null}\n")[0] == []
    found, *_ = run(edit(BASE, "size: medium", "size: large"),
                    policy="settings:\n  sizeCeiling: {staging: {vcpus: 2, ramGb: 4}}\n")
    assert ids(found) == ["GC009"] and "staging ceiling of 2 vCPU / 4 GB RAM" in found[0].message


# -- GC010 server count ----------------------------------------------------------------------------

DEV = edit(BASE, "environment: staging", "environment: dev", "publicIp: true", "publicIp: false")  # moe: 4 floating IPs


def test_gc010_more_than_six_servers_in_dev_fails(run):
    text = edit(DEV, "count: 2", "count: 7")
    found, *_ = run(text)
    assert ids(found) == ["GC010"] and found[0].path == "spec.servers[0].count" and found[0].location.line == 21


def test_gc010_six_in_dev_or_twenty_in_staging_pass(run):
    assert run(edit(DEV, "count: 2", "count: 6"))[0] == []
    assert run(edit(DEV, "environment: dev", "environment: staging", "count: 2", "count: 20"))[0] == []


def test_gc010_limit_is_a_setting(run):
    text = edit(DEV, "count: 2", "count: 7")
    assert run(text, policy="settings: {maxServers: {dev: 10}}\n")[0] == []


# -- GC011 single server in prod -------------------------------------------------------------------

def test_gc011_single_prod_server_is_advisory(run):
    found, report, results = run(edit(BASE, "environment: staging", "environment: prod", "count: 2", "count: 1"))
    (f,) = found
    assert (f.rule_id, f.severity, f.path) == ("GC011", ADVISORY, "spec.servers[0].count")
    assert results[0].ok and not report.failed
    assert results[0].problems[0].severity == "warning" and results[0].problems[0].code == "GC011"


def test_gc011_two_in_prod_or_one_in_staging_pass(run):
    assert run(edit(BASE, "environment: staging", "environment: prod"))[0] == []
    assert run(edit(BASE, "count: 2", "count: 1"))[0] == []


# -- GC012 overlapping networks --------------------------------------------------------------------

OTHER = edit(BASE, "name: library-portal", "name: exam-portal", "costCenter: MOE-LIB-001", "costCenter: MOE-EX-001")


def test_gc012_overlap_in_one_agency_and_site_fails_on_both(run):
    found, report, _ = run(BASE, edit(OTHER, "cidr: 10.90.0.0/24", "cidr: 10.90.0.128/25"))
    (f,) = found
    assert f.rule_id == "GC012" and f.path == "spec.network.cidr" and f.location.line == 13
    assert "overlaps 10.90.0.128/25 of service 'exam-portal'" in f.message and "m1.yaml:13:11" in f.message
    assert [x.rule_id for x in report.findings] == ["GC012", "GC012"]


def test_gc012_no_overlap_across_agencies_sites_or_adjacent_ranges(run):
    assert run(BASE, edit(OTHER, "agency: moe", "agency: moh"))[1].findings == []
    assert run(BASE, edit(OTHER, "site: thr1", "site: devcloud"))[1].findings == []
    assert run(BASE, edit(OTHER, "cidr: 10.90.0.0/24", "cidr: 10.90.1.0/24"))[1].findings == []


def test_gc012_many_services_only_the_overlapping_ones(run):
    private = edit(OTHER, "publicIp: true", "publicIp: false")  # 18 floating IPs would break moe's quota
    texts = [edit(private, "name: exam-portal", f"name: svc-{i}", "cidr: 10.90.0.0/24", f"cidr: 10.91.{i}.0/24")
             for i in range(8)]
    texts.append(edit(private, "name: exam-portal", "name: wide", "cidr: 10.90.0.0/24", "cidr: 10.91.4.0/23"))
    _, report, _ = run(*texts)
    assert sorted(f.file.rsplit("/", 1)[-1] for f in report.findings) == ["m4.yaml", "m5.yaml", "m8.yaml"]


# -- GC013 naming scheme ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,why", [
    ("moe-library", "repeats the agency id 'moe'"),
    ("library-prod", "environment word 'prod'"),
    ("dev-portal", "environment word 'dev'"),
])
def test_gc013_service_name_repeating_agency_or_environment_fails(run, name, why):
    found, *_ = run(edit(BASE, "name: library-portal", f"name: {name}"))
    assert ids(found) == ["GC013"] and why in found[0].message and found[0].location.line == 4


def test_gc013_server_name_repeating_the_service_or_too_long_a_hostname(run):
    found, *_ = run(edit(BASE, "- name: web", "- name: library-portal-web"))
    assert ids(found) == ["GC013"] and "repeats the service name" in found[0].message
    long_name = "a-very-long-service-name-very-long-servi"  # 40 characters, the most the schema allows
    assert len(long_name) == 40
    found, *_ = run(edit(BASE, "name: library-portal", f"name: {long_name}",
                         "- name: web", "- name: webserver-primary"))
    assert ids(found) == ["GC013"] and "at most 63 fit a DNS label" in found[0].message
    assert found[0].path == "spec.servers[0].name"


def test_gc013_words_that_only_contain_an_environment_pass(run):
    assert run(edit(BASE, "name: library-portal", "name: protest-archive"))[0] == []
    assert run(edit(BASE, "name: library-portal", "name: moebius-library"))[0] == []


# -- GC014 health checks ---------------------------------------------------------------------------

def test_gc014_prod_server_without_health_check_is_advisory(run):
    found, _, results = run(edit(BASE, "environment: staging", "environment: prod", "      healthCheck: {port: 443}\n",
                                 ""))
    (f,) = found
    assert (f.rule_id, f.severity, f.path, f.location.line) == ("GC014", ADVISORY, "spec.servers[0].healthCheck", 18)
    assert results[0].ok


def test_gc014_prod_with_check_or_staging_without_pass(run):
    assert run(edit(BASE, "environment: staging", "environment: prod"))[0] == []
    assert run(edit(BASE, "      healthCheck: {port: 443}\n", ""))[0] == []


# -- GC015 quotas ----------------------------------------------------------------------------------

SABT = edit(BASE, "agency: moe", "agency: sabt", "costCenter: MOE-LIB-001", "costCenter: SABT-LIB-001")


def test_gc015_quota_summed_over_manifests_names_who_uses_what(run):
    # sabt may have 32 vCPUs and 128 GB RAM at a site: 6 + 3 large (4 vCPU / 8 GB) = 36 vCPUs, 72 GB
    a = edit(SABT, "size: medium", "size: large", "count: 2", "count: 6", "publicIp: true", "publicIp: false")
    b = edit(a, "name: library-portal", "name: archive", "cidr: 10.90.0.0/24", "cidr: 10.90.1.0/24",
             "count: 6", "count: 3")
    found, report, results = run(a, b)
    (f,) = [x for x in report.findings if x.rule_id == "GC015"]
    assert f.file.endswith("m0.yaml") and f.severity == MANDATORY
    assert "agency 'sabt' at site 'thr1' needs 36 vCPUs, its quota is 32 (over by 4)" in f.message
    assert "m0.yaml 24, " in f.message and f.message.endswith("m1.yaml 12")
    assert f.data["usage"] == {results[0].file: 24, results[1].file: 12} and f.data["quota"] == "vcpus"
    assert not results[0].ok and results[1].ok


@pytest.mark.parametrize("change,words", [
    (("count: 2", "count: 3"), "floating IPs"),
    (("sizeGb: 20", "sizeGb: 1100"), "GB of volumes"),
    (("size: medium", "size: xlarge", "count: 2", "count: 5"), "GB RAM"),
])
def test_gc015_each_quota(run, change, words):
    found, *_ = run(edit(SABT, *change))
    assert any(f.rule_id == "GC015" and f"{words}, its quota" in f.message for f in found), found


def test_gc015_buckets(run):
    buckets = "".join(f"    - {{name: bucket{i}, quotaGb: 1}}\n" for i in range(6))
    found, *_ = run(edit(SABT, "    - {name: uploads, public: false, quotaGb: 10}\n", buckets))
    assert ids(found) == ["GC015"] and "needs 6 buckets, its quota is 5" in found[0].message


def test_gc015_within_quota_and_per_site(run):
    big = edit(SABT, "size: medium", "size: 2xlarge", "publicIp: true", "publicIp: false", "from: 0.0.0.0/0",
               "from: 10.0.0.0/8")  # 32 vCPUs: exactly the quota
    other_site = edit(big, "site: thr1", "site: devcloud", "size: 2xlarge", "size: xlarge", "name: library-portal",
                      "name: archive")
    _, report, _ = run(big, other_site)
    assert report.findings == []


# -- GC016 duplicate names -------------------------------------------------------------------------

def test_gc016_same_name_agency_and_environment_fails_even_across_sites(run):
    found, *_ = run(BASE, edit(BASE, "site: thr1", "site: devcloud"))
    assert ids(found) == ["GC016"] and found[0].location.line == 4 and "m1.yaml:4:9" in found[0].message


def test_gc016_same_name_in_another_environment_passes(run):
    _, report, _ = run(BASE, edit(BASE, "environment: staging", "environment: test", "cidr: 10.90.0.0/24",
                                  "cidr: 10.90.1.0/24"))
    assert report.findings == []


# -- the engine ------------------------------------------------------------------------------------

def test_evaluate_takes_checked_services_or_pairs_and_context(write, ws):
    a = ws.check(write("a.yaml", BASE))
    b = ws.check(write("b.yaml", edit(OTHER, "cidr: 10.90.0.0/24", "cidr: 10.90.0.0/25")))
    report = evaluate([a], ws.config, context=[(b, b.compile())])
    assert [(f.rule_id, f.file) for f in report.findings] == [("GC012", a.file)]
    assert report.services == 1 and report.context == 1
    report = evaluate([(a, a.compile()), b])
    assert len(report.findings) == 2 and report.failed


def test_finding_as_problem_and_json(run):
    found, report, results = run(edit(BASE, "type: standard", "type: fast", "classification: internal",
                                      "classification: secret", "publicIp: true", "publicIp: false",
                                      "from: 0.0.0.0/0", "from: 10.0.0.0/8"))
    (f,) = found
    p = f.to_problem()
    assert (p.code, p.severity, p.path) == ("GC004", "error", "spec.servers[0].volumes[0].type")
    assert p.format().startswith(f"{results[0].file}:24:42: error: spec.servers[0].volumes[0].type: [GC004] volume")
    d = report.to_json()
    assert d["summary"]["mandatory"] == 1 and d["summary"]["failed"] is True
    first = d["findings"][0]
    assert first["rule"] == "GC004" and first["line"] == 24 and first["waived"] is False
    assert results[0].problems == (p,) and not results[0].ok


def test_files_that_do_not_load_are_reported_and_skipped(write, ws):
    bad = write("bad.yaml", edit(BASE, "count: 2", "count: two"))
    good = write("good.yaml", edit(BASE, "from: 0.0.0.0/0", "from: 10.0.0.0/8"))
    results, report = check_paths([bad, good], ws)
    assert [r.ok for r in results] == [False, False]
    assert results[0].problems[0].code == "schema" and results[1].problems[0].code == "GC006"
    assert report.services == 1


def test_policies_yaml_among_the_paths_is_not_a_manifest(tmp_path):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "policies.yaml").write_text("exceptions: []\n")
    (tmp_path / "m.yaml").write_text(textwrap.dedent(BASE))
    results, report = check_paths([tmp_path / "m.yaml", tmp_path / "policies.yaml"], Workspace(ConfigRepo(tmp_path)))
    assert [r.file for r in results] == [str(tmp_path / "m.yaml")] and results[0].ok


def test_a_manifest_named_several_ways_is_checked_once(tmp_path, monkeypatch):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "policies.yaml").write_text("exceptions: []\n")
    real = tmp_path / "real"
    real.mkdir()
    (real / "m.yaml").write_text(textwrap.dedent(BASE))
    (tmp_path / "link.yaml").symlink_to(real / "m.yaml")
    (tmp_path / "alias").symlink_to(real)  # a directory symlink: its entries are the real ones
    monkeypatch.chdir(real)
    given = [Path("m.yaml"), real / "m.yaml", tmp_path / "link.yaml", tmp_path / "alias" / "m.yaml",
             real / ".." / "real" / "m.yaml", real, tmp_path / "policies.yaml"]
    results, report = check_paths(given, Workspace(ConfigRepo(tmp_path)))
    # the first name given is the one reported; policies.yaml is not a manifest
    assert [r.file for r in results] == ["m.yaml"]
    assert report.services == 1


def test_shipped_examples_pass_the_policy_pack(ws):
    from ..conftest import EXAMPLES

    results, report = check_paths([EXAMPLES], ws)
    assert results and all(r.ok for r in results), [p.format() for r in results for p in r.problems]
    assert not report.failed and report.blocking == []


def test_invalid_input_stays_an_input_error(write, tmp_path):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "policies.yaml").write_text("exceptions:\n  - {rule: GC001, severity: off}\n")
    with pytest.raises(InputError):
        check_paths([write("m.yaml", BASE)], Workspace(ConfigRepo(tmp_path)))
