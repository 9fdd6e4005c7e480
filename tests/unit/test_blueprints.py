"""Blueprints: the manifest extends them; errors point at whoever wrote the line."""
import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.check import Workspace

MANIFEST = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: portal
  agency: moh
  environment: prod
  owner: a@moh.gov.example
  costCenter: MOH-1
  classification: internal
spec:
  blueprint: web-app
  site: thr1
  network:
    cidr: 10.42.0.0/24
    ingress:
      - {name: ssh, port: 2222, protocol: tcp, from: 10.1.0.0/16}
      - {name: metrics, port: 9100, protocol: tcp, from: 10.0.0.0/8}
  servers:
    - name: web
      count: 3
"""


def test_manifest_extends_blueprint_and_wins(write):
    svc = Workspace(ConfigRepo(None)).check(write("m.yaml", MANIFEST))
    spec = svc.manifest.spec
    web = spec.servers[0]
    assert (web.count, web.size, web.role, web.public_ip) == (3, "medium", "web", True)  # count from manifest
    assert [v.name for v in web.volumes] == ["data"]
    # ingress merged by name: https kept from the blueprint, ssh overridden, metrics appended
    rules = {r.name: (r.port, r.from_) for r in spec.network.ingress}
    assert rules == {"https": (443, "0.0.0.0/0"), "ssh": (2222, "10.1.0.0/16"), "metrics": (9100, "10.0.0.0/8")}
    assert [r.name for r in spec.network.ingress] == ["https", "ssh", "metrics"]


def test_error_in_manifest_part_points_at_manifest(write):
    path = write("m.yaml", MANIFEST.replace("count: 3", "count: 0"))
    with pytest.raises(InputError) as exc:
        Workspace(ConfigRepo(None)).check(path)
    (p,) = exc.value.problems
    assert p.location.file == str(path) and p.location.line == 20 and p.path == "spec.servers[0].count"


def _repo_with_blueprint(tmp_path, text: str):
    """A config repo at tmp_path whose stacks/web-app.yaml is `text`; the blueprint's path."""
    (tmp_path / "govcloud.yaml").write_text("kind: Config\n")
    (tmp_path / "stacks").mkdir(exist_ok=True)
    bp = tmp_path / "stacks" / "web-app.yaml"
    bp.write_text(text)
    return bp


def _one_server(size: str, extra: str = "") -> str:
    return (f"name: web-app\ndescription: one server\nspec:\n  servers:\n    - name: web\n"
            f"      size: {size}\n      image: ubuntu-22.04\n      role: web\n{extra}")


def test_error_in_blueprint_part_points_at_blueprint(tmp_path, write):
    bp = _repo_with_blueprint(tmp_path, _one_server("medium", "      publicIp: yes-please\n"))
    path = write("m.yaml", MANIFEST)
    with pytest.raises(InputError) as exc:
        Workspace(ConfigRepo(tmp_path)).check(path)
    (p,) = exc.value.problems
    assert p.location.file == str(bp) and p.location.line == 9 and p.path == "spec.servers[0].publicIp"


def test_unknown_blueprint(write):
    path = write("m.yaml", MANIFEST.replace("blueprint: web-app", "blueprint: webapp"))
    with pytest.raises(InputError) as exc:
        Workspace(ConfigRepo(None)).check(path)
    (p,) = exc.value.problems
    assert "unknown blueprint 'webapp'" in p.message and "did you mean 'web-app'?" in p.hint
    assert p.location.line == 11


def test_every_shipped_blueprint_is_documented_and_prices():
    from govcloud.check import price_blueprints

    offers = price_blueprints(Workspace(ConfigRepo(None)), "thr1")
    assert {"web-app", "database", "open-data", "batch"} <= {o.name for o in offers}
    for o in offers:
        assert o.description and o.monthly and int(o.monthly) > 0 and o.problem is None


def test_a_workspace_reads_a_blueprint_once_for_all_its_manifests(tmp_path, write, monkeypatch):
    import govcloud.load.blueprints as blueprints

    bp = _repo_with_blueprint(tmp_path, _one_server("small"))
    reads = []
    real = blueprints.load_yaml_file
    monkeypatch.setattr(blueprints, "load_yaml_file", lambda path: reads.append(str(path)) or real(path))
    ws = Workspace(ConfigRepo(tmp_path))
    for i in range(3):
        svc = ws.check(write(f"m{i}.yaml", MANIFEST.replace("name: portal", f"name: portal-{i}")))
        assert svc.manifest.spec.servers[0].size == "small"
    assert reads == [str(bp)]
    # the blueprints are the workspace's own: another workspace reads the file itself
    Workspace(ConfigRepo(tmp_path)).check(tmp_path / "m0.yaml")
    assert reads == [str(bp)] * 2


def test_a_blueprint_changed_on_disk_is_read_again(tmp_path, write):
    import os

    bp = _repo_with_blueprint(tmp_path, _one_server("small"))
    ws = Workspace(ConfigRepo(tmp_path))
    path = write("m.yaml", MANIFEST)
    assert ws.check(path).manifest.spec.servers[0].size == "small"
    _repo_with_blueprint(tmp_path, _one_server("large"))
    st = bp.stat()
    os.utime(bp, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new mtime even on a coarse clock
    assert ws.check(path).manifest.spec.servers[0].size == "large"
