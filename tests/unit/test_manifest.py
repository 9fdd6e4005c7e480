"""Schema errors: each names the file, line, column, field path and what is allowed."""
import pytest

from govcloud.errors import InputError
from govcloud.check import Workspace
from govcloud.config import ConfigRepo

from ..conftest import VALID


def check(write, text, name="m.yaml"):
    path = write(name, text)
    return Workspace(ConfigRepo(None)).check(path)


def problems(write, text):
    with pytest.raises(InputError) as exc:
        check(write, text)
    return exc.value.problems


def test_valid_manifest_parses_into_typed_models(write):
    svc = check(write, VALID)
    assert svc.manifest.metadata.cost_center == "MOH-IT-042"
    assert svc.manifest.spec.servers[0].volumes[0].size_gb == 50
    assert svc.manifest.spec.network.ingress[0].from_ == "0.0.0.0/0"
    assert svc.site.name == "thr1" and svc.agency.project == "gov-moh"


def test_unknown_key_suggests_the_right_one_and_lists_allowed(write):
    missing, p = problems(write, VALID.replace("sizeGb: 50", "sizeGB: 50"))
    assert missing.path == "spec.servers[0].volumes[0].sizeGb" and "missing" in missing.message
    assert p.path == "spec.servers[0].volumes[0].sizeGB"
    assert (p.location.line, p.location.column) == (24, 24)
    assert "unknown field 'sizeGB'" in p.message
    assert "did you mean 'sizeGb'?" in p.hint and "allowed: name, sizeGb, type" in p.hint


def test_out_of_range_value(write):
    (p,) = problems(write, VALID.replace("sizeGb: 50", "sizeGb: 0"))
    assert p.path == "spec.servers[0].volumes[0].sizeGb"
    assert p.location.line == 24 and "greater than or equal to 1" in p.message


def test_wrong_type_is_not_coerced(write):
    (p,) = problems(write, VALID.replace("count: 2", 'count: "2"'))
    assert p.path == "spec.servers[0].count" and p.location.line == 20
    assert p.message == "must be a whole number, got a string"


def test_enum_lists_allowed_values(write):
    (p,) = problems(write, VALID.replace("environment: prod", "environment: production"))
    assert p.path == "metadata.environment" and p.location.line == 6
    assert "'dev', 'test', 'staging' or 'prod'" in p.message


def test_missing_required_field_points_at_its_parent(write):
    (p,) = problems(write, VALID.replace("      size: medium\n", ""))
    assert p.path == "spec.servers[0].size" and "required field 'size' is missing" in p.message
    assert p.location.line == 17  # the server entry that lacks it


def test_several_errors_are_all_reported(write):
    text = (VALID.replace("environment: prod", "environment: prd")
            .replace("port: 443", "port: 70000")
            .replace("cidr: 10.42.0.0/24", "cidr: 10.42.0.1/24")
            .replace("quotaGb: 100", "quotaGb: -1"))
    probs = problems(write, text)
    assert [p.path for p in probs] == ["metadata.environment", "spec.network.cidr",
                                       "spec.network.ingress[0].port", "spec.buckets[0].quotaGb"]
    assert all(p.location.file.endswith("m.yaml") for p in probs)


def test_duplicate_server_names(write):
    text = VALID.replace("  buckets:", "    - {name: web, size: small, image: ubuntu-22.04}\n  buckets:")
    (p,) = problems(write, text)
    assert p.path == "spec.servers" and "server name 'web' is used twice" in p.message


def test_cidr_must_be_private_network(write):
    (p,) = problems(write, VALID.replace("10.42.0.0/24", "8.8.8.0/24"))
    assert "private range" in p.message and p.location.line == 13


def test_dns_label_names(write):
    (p,) = problems(write, VALID.replace("name: patient-portal", "name: Patient_Portal"))
    assert p.path == "metadata.name" and "DNS label" in p.message


@pytest.mark.parametrize("field, value", [("name: patient-portal", 'name: "patient-portal\\n"'),
                                          ("agency: moh", 'agency: "moh\\n"'),
                                          ("- name: web\n", '- name: "web\\n"\n')])
def test_a_dns_label_with_a_final_newline_is_refused(write, field, value):
    # Python's "$" matches before a final newline: "moh\n" once passed as a DNS label
    (p,) = problems(write, VALID.replace(field, value, 1))
    assert "DNS label" in p.message and p.location is not None and p.location.line > 1


def test_unsupported_api_version(write):
    (p,) = problems(write, VALID.replace("govcloud/v1", "govcloud/v2"))
    assert "unsupported apiVersion 'govcloud/v2'" in p.message and p.location.line == 1


def test_manifest_must_be_a_mapping(write):
    (p,) = problems(write, "- just\n- a list\n")
    assert "must be a mapping" in p.message


def test_publish_block(write):
    text = VALID + """  publish:
    title: {fa: "درگاه بیماران", en: Patient Portal}
    audience: [citizens, aliens]
"""
    (p,) = problems(write, text)
    assert p.path == "spec.publish.audience[1]" and "'citizens', 'businesses' or 'agencies'" in p.message
