"""The Pulumi program under Pulumi's mocks, for every example manifest: offline, no engine, no cloud.

The mock monitor records every RegisterResource request exactly as the engine
would receive it (type, name, inputs, provider, dependencies, protect,
ignoreChanges, ...), and every invoke. Pulumi's runtime keeps global state, so
each run resets it first (`run_program`): the tests run in one process, in
any order.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import pulumi  # noqa: E402  (a dependency: missing it is an error, not a skip)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from pulumi.runtime import rpc  # noqa: E402
from program_mocks import run_under_mocks  # noqa: E402

from govcloud.check import Workspace  # noqa: E402
from govcloud.plan.model import Lookup, Ref  # noqa: E402
from govcloud.engine.program import ProgramRun, ProviderConfig, build_program  # noqa: E402
from govcloud.plan.resources import resource_type  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))
PROVIDER_TYPE = "pulumi:providers:openstack"


class Recorder(pulumi.runtime.Mocks):
    """Deterministic ids and the computed outputs the program reads (addresses, fixed IPs)."""

    def __init__(self):
        self.invokes: list[tuple[str, dict, str]] = []
        self.n = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        self.n += 1
        if args.typ == "openstack:networking/port:Port":
            state["allFixedIps"] = [f"10.9.0.{self.n}"]
        if args.typ == "openstack:networking/floatingIp:FloatingIp":
            state["address"] = f"203.0.113.{self.n}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args), args.provider))
        return {"id": f"net-{args.args.get('name')}-id", "name": args.args.get("name")}, []


def run_program(plan, *, allow_data_loss=False, provider_config=None):
    """Run the plan's program under fresh mocks; (monitor, mocks)."""
    rec = Recorder()
    return run_under_mocks(rec, plan, build_program(plan, provider_config, allow_data_loss=allow_data_loss)), rec


@pytest.fixture(scope="module")
def workspace():
    return Workspace()


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def deployed(request, workspace):
    plan = workspace.plan(request.param)
    mon, rec = run_program(plan)
    return plan, mon, rec


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def outputs_by_key(mon) -> dict[str, dict]:
    """Each registered resource's mock outputs (its state plus its id), by name."""
    regs = {reg.urn: reg for reg in mon.resources.values()}
    return {name: {**regs[urn].state, "id": regs[urn].id} for name, urn in mon.urns.items()}


def expected(value, outputs):
    """A plan input as the provider must receive it (Refs -> the referenced resource's mock output)."""
    if isinstance(value, Ref):
        out = outputs[value.resource]
        return out["id"] if value.attr == "id" else out[camel(value.attr)]
    if isinstance(value, Lookup):
        return f"net-{value.name}-id"
    if hasattr(value, "items"):
        return {k: expected(v, outputs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [expected(v, outputs) for v in value]
    return value


def assert_matches(actual, want, path):
    """`actual` (Pulumi names) holds every field of `want` (plan names, snake_case) with equal values."""
    if isinstance(want, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for k, v in want.items():
            key = camel(k) if camel(k) in actual else k
            assert key in actual, f"{path}.{k}: missing (have {sorted(actual)})"
            assert_matches(actual[key], v, f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(actual, list) and len(actual) == len(want), f"{path}: {actual!r} != {want!r}"
        for i, (a, w) in enumerate(zip(actual, want)):
            assert_matches(a, w, f"{path}[{i}]")
    else:
        assert actual == want, f"{path}: {actual!r} != {want!r}"


# ---------------------------------------------------------------- the resource set


def test_exactly_one_resource_per_plan_entry(deployed):
    plan, mon, _ = deployed
    got = {(r.type, name) for name, r in mon.requests.items() if r.type != PROVIDER_TYPE}
    assert got == {(r.type, r.key) for r in plan.resources}
    assert len(got) == len(plan.resources)


def test_one_explicit_provider_used_by_every_resource(deployed):
    plan, mon, _ = deployed
    providers = [n for n, r in mon.requests.items() if r.type == PROVIDER_TYPE]
    assert providers == [f"openstack-{plan.service.site}"]
    ref = f"{mon.urns[providers[0]]}::{providers[0]}-id"
    for entry in plan.resources:
        assert mon.requests[entry.key].provider == ref, entry.key
    cfg = mon.inputs[providers[0]]
    assert cfg["tenantName"] == plan.service.project
    assert cfg["region"] == plan.service.region


def test_network_lookups_once_per_name_through_the_provider(deployed):
    plan, mon, rec = deployed
    names = {v.name for r in plan.resources for v in r.inputs.values() if isinstance(v, Lookup)}
    calls = [a["name"] for tok, a, _ in rec.invokes if tok == "openstack:networking/getNetwork:getNetwork"]
    assert sorted(calls) == sorted(names)  # once per name
    assert all(p and "pulumi:providers:openstack" in p for _t, _a, p in rec.invokes)
    router = mon.inputs["router"]
    assert router["externalNetworkId"] == f"net-{plan.get('router').inputs['external_network_id'].name}-id"


def test_inputs_are_the_plans(deployed):
    plan, mon, _ = deployed
    outputs = outputs_by_key(mon)
    for entry in plan.resources:
        want = expected(dict(entry.inputs), outputs)
        assert_matches(mon.inputs[entry.key], want, entry.key)


def test_key_inputs_by_kind(deployed):
    plan, mon, _ = deployed
    for entry in plan.resources:
        got = mon.inputs[entry.key]
        if "name" in entry.inputs:
            assert got["name"] == entry.name
        if entry.kind == "Instance":
            assert got["flavorName"] == entry.inputs["flavor_name"]
            assert got["imageName"] == entry.inputs["image_name"]
            assert got["userData"] == entry.inputs["user_data"]
            assert got["metadata"]["govcloud:service"] == plan.service.service
        elif entry.kind == "Subnet":
            assert got["cidr"] == entry.inputs["cidr"]
        elif entry.kind == "Volume":
            assert got["size"] == entry.inputs["size"] and got["volumeType"] == entry.inputs["volume_type"]
        elif entry.kind == "Container":
            assert got["metadata"]["Quota-Bytes"] == entry.inputs["metadata"]["Quota-Bytes"]


# ---------------------------------------------------------------- dependencies


def test_router_interface_depends_on_router_and_subnet(deployed):
    plan, mon, _ = deployed
    ri = mon.inputs["router-interface"]
    assert ri["routerId"] == "router-id" and ri["subnetId"] == "subnet-id"
    deps = set(mon.requests["router-interface"].dependencies)
    assert {mon.urns["router"], mon.urns["subnet"]} <= deps


def test_volumes_attach_to_their_server(deployed):
    plan, mon, _ = deployed
    attaches = [r for r in plan.resources if r.kind == "VolumeAttach"]
    assert len(attaches) == sum(1 for r in plan.resources if r.kind == "Volume")
    for a in attaches:
        m = re.fullmatch(r"attach-(.+-\d+)-(.+)", a.key)
        inst, vol = m.group(1), m.group(2)
        got = mon.inputs[a.key]
        assert got["instanceId"] == f"server-{inst}-id"
        assert got["volumeId"] == f"volume-{inst}-{vol}-id"
        assert mon.inputs[f"volume-{inst}-{vol}"]["metadata"]["govcloud:server"] == inst
        assert {mon.urns[f"server-{inst}"], mon.urns[f"volume-{inst}-{vol}"]} <= \
            set(mon.requests[a.key].dependencies)


def test_ports_wait_for_the_router_interface_and_servers_for_their_ports(deployed):
    # the server needs the metadata service through the router: its port is made once the subnet is on the
    # router, and the server waits for its port (its reference), so no server boots before that
    plan, mon, _ = deployed
    for server in (r for r in plan.resources if r.kind == "Instance"):
        port = server.key.replace("server-", "port-", 1)
        assert mon.urns["router-interface"] in set(mon.requests[port].dependencies)
        assert mon.urns["subnet"] in set(mon.requests[port].dependencies)
        assert mon.urns[port] in set(mon.requests[server.key].dependencies)
        assert mon.urns["router-interface"] not in set(mon.requests[server.key].dependencies)


def test_floating_ip_association_uses_the_servers_port(deployed):
    plan, mon, _ = deployed
    for assoc in (r for r in plan.resources if r.kind == "FloatingIpAssociate"):
        inst = assoc.key.removeprefix("floating-ip-assoc-")
        server_port = mon.inputs[f"server-{inst}"]["networks"][0]["port"]
        assert mon.inputs[assoc.key]["portId"] == server_port == f"port-{inst}-id"
        assert mon.inputs[assoc.key]["floatingIp"] == outputs_by_key(mon)[f"floating-ip-{inst}"]["address"]
        deps = set(mon.requests[assoc.key].dependencies)
        assert {mon.urns[f"floating-ip-{inst}"], mon.urns[f"port-{inst}"], mon.urns["router-interface"]} <= deps


def test_plan_depends_on_becomes_dependencies(deployed):
    plan, mon, _ = deployed
    for entry in plan.resources:
        deps = set(mon.requests[entry.key].dependencies)
        for key in entry.depends_on:
            assert mon.urns[key] in deps, (entry.key, key)
        for key in entry.refs():
            assert mon.urns[key] in deps, (entry.key, key)


# ---------------------------------------------------------------- options


def test_stateful_resources_are_protected_and_retained(deployed):
    plan, mon, _ = deployed
    assert plan.stateful(), "every example keeps some data"
    for entry in plan.resources:
        req = mon.requests[entry.key]
        assert bool(req.protect) is entry.stateful, entry.key
        assert bool(req.retainOnDelete) is entry.stateful, entry.key


def test_instances_ignore_user_data_changes_and_have_timeouts(deployed):
    plan, mon, _ = deployed
    for entry in plan.resources:
        req = mon.requests[entry.key]
        if entry.kind == "Instance":
            assert list(req.ignoreChanges) == ["userData"]
            assert req.customTimeouts.create == "10m" and req.customTimeouts.delete == "10m"
        else:
            assert list(req.ignoreChanges) == []
        assert bool(req.deleteBeforeReplace) is resource_type(entry.type).delete_before_replace, entry.key


SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # Pulumi's marker of a secret value on the wire


def test_stack_outputs(deployed):
    plan, mon, _ = deployed
    # every output is a secret: the state holds them encrypted with the stack's passphrase
    assert {k: v.get("4dabf18193072939515e22adb298388d") for k, v in mon.stack_outputs.items()} == \
        dict.fromkeys(["networkId", "subnetId", "routerId", "securityGroupId", "servers", "volumes", "buckets",
                       "service"], SECRET_SIG)
    out = {k: v["value"] for k, v in mon.stack_outputs.items()}
    assert out["networkId"] == "network-id"
    servers = {r.name: r for r in plan.resources if r.kind == "Instance"}
    assert set(out["servers"]) == set(servers)
    for name, s in out["servers"].items():
        key = servers[name].key
        assert s["id"] == f"{key}-id" and s["key"] == key
        assert s["fixedIp"].startswith("10.9.0.")
        public = f"floating-ip-{key.removeprefix('server-')}" in {r.key for r in plan.resources}
        assert (s.get("floatingIp") is not None) is public
    assert out["buckets"] == [r.name for r in plan.resources if r.kind == "Container"]
    assert set(out["volumes"]) == {r.name for r in plan.resources if r.kind == "Volume"}


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_the_run_keeps_the_outputs_the_engine_registers(workspace):
    """The engine child hands its parent the outputs the program kept instead of reading them back from the
    state: they must be the values registered as the stack's outputs, for every example. (The mock monitor's
    deserializer drops null members, e.g. a private server's floatingIp; the engine keeps them, as the kept
    values do: tests/e2e/test_deploy compares them with `pulumi stack output` on the dev cloud.)"""
    for path in EXAMPLES:
        plan = workspace.plan(path)
        run = ProgramRun()
        mon = run_under_mocks(Recorder(), plan, build_program(plan, record=run))
        assert _without_nulls(run.outputs) == {k: v["value"] for k, v in mon.stack_outputs.items()}, path
        assert set(run.outputs["servers"]) == {r.name for r in plan.resources if r.kind == "Instance"}, path


# ---------------------------------------------------------------- variants (one example is enough)


@pytest.fixture(scope="module")
def portal(workspace):
    return workspace.plan(REPO / "examples" / "devcloud" / "citizen-portal.yaml")


def test_allow_data_loss_unprotects(portal):
    mon, _ = run_program(portal, allow_data_loss=True)
    assert not any(bool(r.protect) or bool(r.retainOnDelete) for r in mon.requests.values())


def test_password_reaches_the_provider_as_a_secret(portal):
    cfg = ProviderConfig(auth_url="https://keystone.example:5000/v3", region="RegionOne", project="gov-moe",
                         user_name="svc", password="s3cr3t-pw", user_domain_name="Default",
                         project_domain_name="Default")
    mon, _ = run_program(portal, provider_config=cfg)
    name = f"openstack-{portal.service.site}"
    raw = mon.requests[name].object
    pw = raw.fields["password"]
    # a secret travels wrapped in Pulumi's secret signature, never as a plain string property
    assert pw.WhichOneof("kind") == "struct_value"
    assert pw.struct_value.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig
    assert mon.inputs[name]["userName"] == "svc" and mon.inputs[name]["authUrl"] == cfg.auth_url


def test_runs_repeat_in_one_process(portal):
    """Pulumi's global runtime state is reset between runs: the same program twice gives the same resources."""
    a, _ = run_program(portal)
    b, _ = run_program(portal)
    assert set(a.requests) == set(b.requests)
    assert len(a.requests) == len(portal.resources) + 1


def test_a_ref_to_a_later_entry_is_rejected(portal):
    from dataclasses import replace

    bad = replace(portal, resources=tuple(reversed(portal.resources)))
    with pytest.raises(ValueError, match="not an earlier entry"):
        build_program(bad)


# ---------------------------------------------------------------- the engine's offline pieces
# (what govcloud.engine does around the program without a cloud or the Pulumi CLI)

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from govcloud.plan.model import ResourcePlan  # noqa: E402
from govcloud.cloud.credentials import cloud_region, provider_config
from govcloud.engine.locks import StackLock, clear_stale_engine_locks
from govcloud.engine.stack import StackLocation, backend_url, user_data_drift
from govcloud.settings import read_passphrase
from govcloud.engine.command import cli_error_text, ensure_workdir
from govcloud.errors import EngineError, SetupError, StackLockedError
from govcloud.plan.resources import INSTANCE  # noqa: E402
from govcloud.engine import events as ev  # noqa: E402
from govcloud.config import ConfigRepo  # noqa: E402


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_plan_json_round_trip_feeds_the_same_program(workspace, path):
    """The engine child gets the plan as JSON: it must rebuild exactly the same program."""
    plan = workspace.plan(path)
    again = ResourcePlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.to_json() == plan.to_json()
    a, _ = run_program(plan)
    b, _ = run_program(again)
    assert {n: (r.type, dict(a.inputs[n])) for n, r in a.requests.items()} == \
           {n: (r.type, dict(b.inputs[n])) for n, r in b.requests.items()}


def test_passphrase_from_env_or_file_never_in_errors(tmp_path):
    assert read_passphrase({"GOVCLOUD_PASSPHRASE": "pw-1"}) == "pw-1"
    f = tmp_path / "pp"
    f.write_text("pw-2\n")
    assert read_passphrase({"GOVCLOUD_PASSPHRASE_FILE": str(f)}) == "pw-2"
    with pytest.raises(SetupError, match="GOVCLOUD_PASSPHRASE.*GOVCLOUD_PASSPHRASE_FILE"):
        read_passphrase({})
    f.write_text("")
    with pytest.raises(SetupError, match="is empty"):
        read_passphrase({"GOVCLOUD_PASSPHRASE_FILE": str(f)})
    with pytest.raises(SetupError, match="cannot read"):
        read_passphrase({"GOVCLOUD_PASSPHRASE_FILE": str(tmp_path / "missing")})
    assert SetupError.exit_code == 1 and EngineError.exit_code == 3


def test_backend_url_default_and_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_STATE_DIR", raising=False)
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
    url = backend_url(ConfigRepo(tmp_path))
    assert url == f"file://{tmp_path.resolve()}/.govcloud/state"
    assert not (tmp_path / ".govcloud").exists()  # naming the backend creates nothing; the first write does
    loc = StackLocation("govcloud-a", "web-dev", url, str(tmp_path / ".govcloud"))
    assert ensure_workdir(loc) == tmp_path / ".govcloud" / "workspaces" / "govcloud-a" / "web-dev"
    assert (tmp_path / ".govcloud" / "state").is_dir() and (loc.work_dir / "Pulumi.yaml").is_file()
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: file://shared/st\n")
    assert backend_url(ConfigRepo(tmp_path)) == f"file://{(tmp_path / 'shared' / 'st').resolve()}"
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n"
                                            "backend: s3://state?endpoint=obj.thr1.gov.example\n")
    assert backend_url(ConfigRepo(tmp_path)) == "s3://state?endpoint=obj.thr1.gov.example"


CLOUDS = """
clouds:
  site-a:
    auth: {auth_url: "https://keystone.a.example:5000/v3", username: svc, password: pw-a, project_id: abc123,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionA
    interface: internal
  site-b:
    auth: {auth_url: "https://keystone.b.example:5000/v3", username: svc-b, password: pw-b, project_name: other,
           user_domain_name: Default, project_domain_name: Default}
"""


@pytest.fixture
def clouds_yaml(tmp_path, monkeypatch):
    f = tmp_path / "clouds.yaml"
    f.write_text(CLOUDS)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(f))
    for k in list(os.environ):
        if k.startswith("OS_") and k != "OS_CLIENT_CONFIG_FILE":
            monkeypatch.delenv(k)
    return f


def test_credentials_come_from_clouds_yaml_with_the_agency_project(clouds_yaml, portal):
    cc = cloud_region("site-a", "gov-moe", "RegionOne")
    auth = cc.config["auth"]
    assert auth["project_name"] == "gov-moe" and "project_id" not in auth  # the entry's project is replaced
    assert cc.region_name == "RegionOne" and auth["username"] == "svc"
    from dataclasses import replace

    plan = replace(portal, service=replace(portal.service, cloud="site-a"))
    cfg = provider_config(plan)
    assert (cfg.auth_url, cfg.user_name, cfg.password, cfg.project, cfg.region, cfg.endpoint_type) == \
        ("https://keystone.a.example:5000/v3", "svc", "pw-a", "gov-moe", "RegionOne", "internal")
    assert "pw-a" not in repr(cfg)


def test_missing_cloud_entry_says_how_to_fix(clouds_yaml, monkeypatch):
    with pytest.raises(SetupError, match=r"no OpenStack credentials for cloud 'thr9'.*clouds.yaml.*"
                                                r"Entries found: site-a, site-b"):
        cloud_region("thr9", "gov-moe")
    monkeypatch.setenv("OS_CLOUD", "site-b")  # as the OpenStack CLI: OS_CLOUD names the entry
    assert cloud_region("thr9", "gov-moe").config["auth"]["username"] == "svc-b"


def test_os_variables_without_clouds_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "none.yaml"))
    for k, v in {"OS_AUTH_URL": "https://k.example/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                 "OS_PROJECT_NAME": "x", "OS_USER_DOMAIN_NAME": "Default",
                 "OS_PROJECT_DOMAIN_NAME": "Default"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("OS_CLOUD", raising=False)
    cc = cloud_region("thr1", "gov-moh", "RegionOne")
    assert cc.config["auth"]["auth_url"] == "https://k.example/v3"
    assert cc.config["auth"]["project_name"] == "gov-moh"


def _loc(tmp_path):
    return StackLocation("govcloud-moe", "svc-dev", f"file://{tmp_path}/state", str(tmp_path))


def test_stack_lock_names_the_holder_and_is_released(tmp_path):
    loc = _loc(tmp_path)
    with StackLock(loc, "govcloud deploy a.yaml"):
        with pytest.raises(StackLockedError) as exc:
            StackLock(loc, "govcloud deploy a.yaml").acquire()
        msg = str(exc.value)
        assert f"is locked by govcloud deploy a.yaml (pid {os.getpid()}, " in msg and socket.gethostname() in msg
    StackLock(loc, "again").acquire().release()


def test_stack_lock_held_by_another_process(tmp_path):
    loc = _loc(tmp_path)
    code = ("import sys, time; sys.path.insert(0, %r); from govcloud.engine.locks import StackLock; "
            "from govcloud.engine.stack import StackLocation; "
            "StackLock(StackLocation(*sys.argv[1:5]), 'govcloud deploy x').acquire(); "
            "print('held', flush=True); time.sleep(30)") % str(REPO)
    child = subprocess.Popen([sys.executable, "-c", code, *loc.to_json().values()], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StackLockedError, match=rf"pid {child.pid}"):
            StackLock(loc, "y").acquire()
    finally:
        child.kill()
        child.wait()
    StackLock(loc, "y").acquire().release()  # the kernel released it with the process


def _engine_lock(loc, pid, host=None):
    d = loc.engine_lock_dir()
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"lock-{pid}-{host or 'here'}.json"
    f.write_text(json.dumps({"pid": pid, "username": "ops", "hostname": host or socket.gethostname(),
                             "timestamp": "2026-11-28T10:00:00Z"}))
    (d / (f.name + ".attrs")).write_text("{}")
    return f


def test_stale_engine_lock_is_removed_live_one_reported(tmp_path):
    loc = _loc(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = _engine_lock(loc, dead.pid)
    notes = clear_stale_engine_locks(loc)
    assert len(notes) == 1 and "no longer runs" in notes[0] and not stale.exists()
    assert not Path(str(stale) + ".attrs").exists()

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "pulumi"])
    try:
        for _ in range(100):  # until it has exec'd: the check reads its command line
            if b"pulumi" in Path(f"/proc/{live.pid}/cmdline").read_bytes():
                break
            time.sleep(0.02)
        _engine_lock(loc, live.pid)
        with pytest.raises(StackLockedError, match=rf"ops@{socket.gethostname()} \(pid {live.pid}\)"):
            clear_stale_engine_locks(loc)
    finally:
        live.kill()
        live.wait()


def test_engine_lock_of_another_host_is_never_removed(tmp_path):
    loc = _loc(tmp_path)
    f = _engine_lock(loc, 12345, host="ci-runner-7")
    with pytest.raises(StackLockedError, match="ci-runner-7.*unlock FILE --force"):
        clear_stale_engine_locks(loc)
    assert f.exists()


def _change(key, type_, op, changed=()):
    return ev.ResourceChange(urn=f"urn:pulumi:s::p::{type_}::{key}", key=key, type=type_, op=op, raw_op=op,
                             changed=tuple(changed))


def test_user_data_drift(portal):
    server = portal.get("server-web-1")
    dep = {"deployment": {"resources": [
        {"urn": f"urn:pulumi:s::p::{INSTANCE}::server-web-1", "type": INSTANCE,
         "inputs": {"userData": server.inputs["user_data"]}},
        {"urn": f"urn:pulumi:s::p::{INSTANCE}::server-web-2", "type": INSTANCE,
         "inputs": {"userData": "#cloud-config\nold: true\n"}},
    ]}}
    assert user_data_drift(portal, dep) == ["server-web-2"]
    assert user_data_drift(portal, None) == []


def test_cli_error_keeps_the_error_lines():
    class Exc:
        stderr = "warning: x\nerror: the stack is currently locked by 1 lock(s).\n  file://a: created by r@h\n"
        stdout = ""
    assert cli_error_text(Exc()) == "the stack is currently locked by 1 lock(s)."
