"""Deploy for real: the govcloud CLI, the real Pulumi engine and the dev cloud (OpenStack on 127.0.0.1).

One scenario, in order (the tests of this module share one stack and run in file order):

1. deploy the citizen portal example (23 resources) and see every resource through openstacksdk;
2. deploy again: no changes; `refresh --check` finds a rule and a change made by hand, records nothing;
3. shrink a count: refused as data loss, then applied with --allow-data-loss;
4. grow the count from 1 to 2, add an ingress rule and a volume: exactly those changes, in the preview and
   after the deploy; refused without a terminal and without --yes;
5. a second deploy while one runs: "stack ... is locked by ...";
6. Ctrl-C (SIGINT) half way: the engine stops safely, the next deploy finishes;
7. SIGKILL of the whole process tree half way: the next deploy recovers (stale lock, pending creates) with
   neither orphaned nor duplicated resources;
8. destroy: refused while it would delete volumes and the bucket, then everything is gone;
plus an engine failure (a missing image) that exits 3 with the provider's message, no traceback.

The example is deployed under its own service name (`citizen-portal-<random>`, the spec unchanged) into
a temporary config repo (copied inventories, own state dir, GOVCLOUD_PASSPHRASE set), so that it never
meets another deploy of the example in the shared project gov-moe; "nothing left" is checked for every
resource carrying the service's name prefix.

These tests FAIL (never skip) when the dev cloud or the Pulumi toolchain is missing:
`scripts/install-toolchain` and `sudo scripts/devcloud up` fix that.
"""
from __future__ import annotations

import collections
import json
import os
import re
import secrets
import signal
import time

import pytest

from stackrepo import PROJECT, Repo, ops, preconditions, process_tree
from tests.faults.invariants import cloud_inventory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def engine_logs(repo: Repo, op: str) -> list[str]:
    """The texts of the stack's engine logs of `op`, oldest first."""
    logs = sorted((repo.root / ".govcloud" / "logs").glob(f"*--{op}--*.log"), key=lambda f: f.stat().st_mtime_ns)
    return [f.read_text() for f in logs]


def child_pid(log: str, op: str) -> int:
    """The engine child's pid the log names for `op` (the worker's first line of each step)."""
    (pid,) = re.findall(rf"^govcloud engine child (\d+): {op}\b", log, re.M)
    return int(pid)


def assert_cloud_matches_state(conn, repo: Repo) -> dict:
    """No duplicates, no orphans: every prefixed cloud resource is in the state, once."""
    inv = cloud_inventory(conn, repo.prefix)
    ids = {r.get("id") for r in repo.state_resources().values()}
    for kind, items in inv.items():
        names = collections.Counter(n for n, _ in items)
        dups = {n: c for n, c in names.items() if c > 1}
        assert not dups, f"duplicated {kind}: {dups}"
        if kind != "rule":  # rules are checked by count below (their id is in the state too)
            orphans = [(n, i) for n, i in items if i not in ids]
            assert not orphans, f"orphaned {kind} (in the cloud, not in the state): {orphans}"
    plan_kinds = collections.Counter(r["type"] for r in repo.state_resources().values())
    assert len(inv["server"]) == plan_kinds["openstack:compute/instance:Instance"]
    assert len(inv["volume"]) == plan_kinds["openstack:blockstorage/volume:Volume"]
    assert len(inv["port"]) == plan_kinds["openstack:networking/port:Port"] + 0
    assert len(inv["rule"]) == plan_kinds["openstack:networking/secGroupRule:SecGroupRule"]
    assert not repo.checkpoint().get("pending_operations")
    return inv


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def conn():
    preconditions()
    from govcloud.cloud.credentials import connect

    return connect("devcloud", PROJECT, "RegionOne", api_timeout=60)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, conn):
    r = Repo(tmp_path_factory.mktemp("govcloud-e2e"), f"citizen-portal-{secrets.token_hex(2)}")
    r.write()
    yield r
    r.destroy_leftovers()


# ---------------------------------------------------------------- 1. deploy


def test_deploy_creates_every_resource(repo, conn):
    t0 = time.monotonic()
    r = repo.run("deploy", repo.manifest, "--yes")
    took = time.monotonic() - t0
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    print(f"\nfirst deploy: {took:.1f} s")
    p = repo.prefix
    tags = {"govcloud:agency=moe", f"govcloud:service={repo.service}", "govcloud:environment=dev",
            "govcloud:classification=internal", "govcloud:cost-center=MOE-WEB-001"}
    pid = conn.current_project_id

    net = conn.network.find_network(f"{p}-net", project_id=pid)
    assert net is not None and tags <= set(net.tags) and net.is_admin_state_up
    (subnet,) = list(conn.network.subnets(network_id=net.id))
    assert subnet.name == f"{p}-subnet" and subnet.cidr == "10.80.0.0/24" and subnet.is_dhcp_enabled
    router = conn.network.find_router(f"{p}-router", project_id=pid)
    public = conn.network.find_network("public")
    assert router.external_gateway_info["network_id"] == public.id and tags <= set(router.tags)
    ri_ports = [q for q in conn.network.ports(device_id=router.id)
                if any(ip["subnet_id"] == subnet.id for ip in q.fixed_ips)]
    assert len(ri_ports) == 1, "one router interface on the subnet"
    sg = conn.network.find_security_group(f"{p}-sg", project_id=pid)
    rules = {(x.direction, x.ether_type, x.protocol, x.port_range_min, x.remote_ip_prefix)
             for x in conn.network.security_group_rules(security_group_id=sg.id)}
    assert rules == {("egress", "IPv4", None, None, None), ("egress", "IPv6", None, None, None),
                     ("ingress", "IPv4", "tcp", 443, "0.0.0.0/0"), ("ingress", "IPv4", "tcp", 22, "10.0.0.0/8")}
    group = next(g for g in conn.compute.server_groups() if g.name == f"{p}-web-group")
    assert group.policy == "soft-anti-affinity" or "soft-anti-affinity" in (group.policies or [])

    outputs = json.loads(repo.run("outputs", repo.manifest, "--format", "json").stdout)
    servers = {s.name: s for s in conn.compute.servers() if s.name.startswith(p)}
    assert set(servers) == {f"{p}-web-1", f"{p}-web-2"} == set(outputs["servers"])
    for n in (1, 2):
        name = f"{p}-web-{n}"
        srv = conn.compute.get_server(servers[name].id)
        assert srv.status == "ACTIVE"
        assert srv.flavor.get("original_name", "gc.small") == "gc.small" and srv.flavor["vcpus"] == 1
        md = srv.metadata
        assert md["govcloud:service"] == repo.service and md["govcloud:index"] == str(n)
        assert md["govcloud:agency"] == "moe" and md["govcloud:role"] == "web"
        assert srv.id in group.member_ids
        (port,) = list(conn.network.ports(device_id=srv.id))
        assert port.name == f"{name}-port" and port.security_group_ids == [sg.id] and tags <= set(port.tags)
        fixed = port.fixed_ips[0]["ip_address"]
        (fip,) = list(conn.network.ips(port_id=port.id))
        assert fip.description == f"public IP of {name} (govcloud)" and tags <= set(fip.tags)
        assert outputs["servers"][name] == {"key": f"server-web-{n}", "id": srv.id, "fixedIp": fixed,
                                            "floatingIp": fip.floating_ip_address}
        (vol,) = [v for v in conn.block_storage.volumes() if v.name == f"{name}-data"]
        assert vol.size == 1 and vol.volume_type == "standard" and vol.status == "in-use"
        assert [a["server_id"] for a in vol.attachments] == [srv.id]
        assert vol.metadata["govcloud:server"] == f"web-{n}" and vol.metadata["govcloud:service"] == repo.service
    meta = {k.lower(): v for k, v in conn.object_store.get_container_metadata(f"{p}-uploads").metadata.items()}
    assert meta["govcloud-service"] == repo.service and meta["quota-bytes"] == str(5 * 1024 ** 3)
    assert outputs["buckets"] == [f"{p}-uploads"] and outputs["networkId"] == net.id

    # the preview and the apply ran in one engine child, the apply on the go-ahead (issue 16), logged apart
    preview_log, up_log = engine_logs(repo, "preview")[-1], engine_logs(repo, "up")[-1]
    assert child_pid(preview_log, "preview") == child_pid(up_log, "up"), (preview_log[:300], up_log[:300])
    assert "the change previewed in this process" in up_log
    # the default providers are off from the stack's creation on (project config in Pulumi.yaml): a resource
    # without the program's provider would fail instead of using the OS_* defaults
    up_events = sorted((repo.root / ".govcloud" / "logs").glob("*--up--*.events.jsonl"))[-1]
    prelude = next(e["preludeEvent"] for e in map(json.loads, up_events.read_text().splitlines()) if "preludeEvent" in e)
    assert json.loads(prelude["config"]["pulumi:disable-default-providers"]) == ["openstack"]

    inv = assert_cloud_matches_state(conn, repo)
    assert len(repo.state_resources()) == 23
    assert {k: len(v) for k, v in inv.items()} == {
        "server": 2, "volume": 2, "port": 2, "network": 1, "subnet": 1, "router": 1, "router-interface": 1,
        "secgroup": 1, "rule": 4, "floating-ip": 2, "server-group": 1, "container": 1, "attachment": 2}


def test_state_holds_the_password_only_encrypted(repo):
    from govcloud.cloud.credentials import provider_config

    password = provider_config(_plan(repo)).password
    assert password
    state_dir = repo.root / ".govcloud"
    for path in state_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".jsonl", ".log", ""):
            text = path.read_text(errors="replace")
            assert json.dumps(password) not in text, f"the OpenStack password is in clear in {path}"
    prov = next(r for r in repo.checkpoint()["resources"] if r["type"] == "pulumi:providers:openstack")
    secret = prov["inputs"]["password"]
    assert secret.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270"
    assert "ciphertext" in secret and "plaintext" not in secret
    assert prov["inputs"]["tenantName"] == PROJECT


def _plan(repo):
    from govcloud.config import ConfigRepo
    from govcloud.check import Workspace

    return Workspace(ConfigRepo(repo.root)).plan(repo.manifest)


# ---------------------------------------------------------------- 2. no changes


def test_redeploy_changes_nothing(repo):
    doc = repo.diff()
    assert ops(doc) == {} and doc["counts"] == {"same": 23}
    t0 = time.monotonic()
    r = repo.run("deploy", repo.manifest, "--yes")
    print(f"\nno-change redeploy: {time.monotonic() - t0:.1f} s")
    assert r.returncode == 0, r.stderr
    assert "up to date: nothing to deploy" in r.stdout
    st = json.loads(repo.run("status", repo.manifest, "--format", "json").stdout)
    assert st["resources"] == 23 and st["missing"] == [] and st["extra"] == [] and st["locks"] == []


def test_an_apply_hands_back_the_outputs_the_state_holds(repo, monkeypatch):
    """The engine child hands its parent the outputs its program resolved in the up, instead of reading them
    back with two `pulumi stack output` runs (issue 16): they are what the state holds, as `govcloud outputs`
    reads them with the CLI. One rule replaced through the library (an apply that changes nothing else)."""
    from govcloud.ops.deploy import deploy
    from govcloud.ops.workflow import Hooks

    for name in ("GOVCLOUD_STATE_DIR", "GOVCLOUD_CONFIG", "GOVCLOUD_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in repo.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(repo.root)
    res = deploy(str(repo.manifest), yes=True, replace=("secgroup-egress-ipv6",), hooks=Hooks())
    assert res.result is not None and res.result.ok, res.result
    stored = json.loads(repo.run("outputs", repo.manifest, "--format", "json").stdout)
    assert stored["servers"] and dict(res.result.outputs) == stored
    assert ops(repo.diff()) == {}


# ---------------------------------------------------------------- 2b. drift


def test_refresh_check_reports_drift_and_records_nothing(repo, conn):
    r = repo.run("refresh", repo.manifest, "--check")
    assert r.returncode == 0, r.stderr
    assert "no drift" in r.stdout

    sg = conn.network.find_security_group(f"{repo.prefix}-sg", ignore_missing=False)
    net = conn.network.find_network(f"{repo.prefix}-net", ignore_missing=False)
    rule = conn.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=3389, port_range_max=3389, remote_ip_prefix="0.0.0.0/0")
    conn.network.update_network(net, description="opened by hand")
    state_before = repo.checkpoint()
    try:
        r = repo.run("refresh", repo.manifest, "--check", "--format", "json")
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert doc["recorded"] is False
        assert [(d["key"], d["changed"]) for d in doc["drift"]] == [("network", ["description"])]
        (prop,) = doc["drift"][0]["properties"]
        assert prop["new"] == "opened by hand"
        (extra,) = doc["unmanagedRules"]
        assert (extra["ruleId"], extra["portMin"], extra["remote"]) == (rule.id, 3389, "0.0.0.0/0")
        assert repo.checkpoint() == state_before  # a check writes nothing

        r = repo.run("refresh", repo.manifest, "--check")
        assert r.returncode == 1
        assert re.search(r"secgroup\s+SecGroup\s+rule added outside govcloud: ingress tcp 3389 from 0.0.0.0/0",
                         r.stdout), r.stdout
        assert re.search(r"network\s+Network\s+description", r.stdout), r.stdout
        assert f"govcloud deploy {repo.manifest} --refresh" in r.stdout

        # what the hint says: a deploy with --refresh brings the network back to the manifest
        r = repo.run("deploy", repo.manifest, "--yes", "--refresh")
        assert r.returncode == 0, r.stderr
        assert re.search(r"^deployed \S+ in [\d.]+ s: updated 1\b", r.stdout, re.M), r.stdout
        assert conn.network.get_network(net.id).description == ""
    finally:
        conn.network.delete_security_group_rule(rule, ignore_missing=True)
        if conn.network.get_network(net.id).description:
            conn.network.update_network(net, description="")
    r = repo.run("refresh", repo.manifest, "--check")
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- 3. data loss guard


def plan_oracle(before, after) -> tuple[dict[str, str], set[str], set[str]]:
    """What the engine must do for a plan change, from the two ResourcePlans alone.

    Returns (must: key -> create|delete for added/removed entries, changed: keys whose inputs changed,
    which must be updated or replaced, allowed: changed plus everything referring to them, transitively,
    which may be replaced along). A changed user_data alone is not a change: the program ignores it.
    """
    from govcloud.plan.model import to_plain

    b, a = before.by_key(), after.by_key()
    must = {k: "create" for k in set(a) - set(b)} | {k: "delete" for k in set(b) - set(a)}

    def comparable(r):
        inputs = to_plain(r.inputs)
        inputs.pop("user_data", None)
        return r.type, inputs, tuple(r.depends_on)

    changed = {k for k in set(a) & set(b) if comparable(a[k]) != comparable(b[k])}
    allowed, grew = set(changed), True
    while grew:
        grew = False
        for k, r in a.items():
            if k in b and k not in allowed and (r.refs() | set(r.depends_on)) & allowed:
                allowed.add(k)
                grew = True
    return must, changed, allowed


def assert_preview_follows_plans(doc, before, after):
    must, changed, allowed = plan_oracle(before, after)
    got = ops(doc)
    assert {k: v for k, v in got.items() if v in ("create", "delete")} == must
    touched = {k for k, v in got.items() if v in ("update", "replace")}
    assert changed <= touched <= allowed, (changed, touched, allowed)


def test_shrinking_is_refused_as_data_loss_then_allowed(repo, conn):
    before = _plan(repo)
    repo.write(lambda d: d["spec"]["servers"][0].update(count=1))
    after = _plan(repo)
    doc = repo.diff()  # a review still works when protected data would go
    assert doc["ok"] and doc["allowDataLoss"] is False
    losses = {d["key"]: d for d in doc["dataLoss"]}
    assert set(losses) == {"volume-web-2-data"}, losses
    assert losses["volume-web-2-data"]["op"] == "delete"
    assert losses["volume-web-2-data"]["name"] == f"{repo.prefix}-web-2-data"
    assert losses["volume-web-2-data"]["reason"].startswith("deleted with the data on it")
    # the server that stays is not touched: its server group exists whatever the count
    assert ops(doc).get("server-web-1") is None and ops(doc).get("server-group-web") is None
    assert_preview_follows_plans(doc, before, after)

    r = repo.run("deploy", repo.manifest, "--yes")
    assert r.returncode == 1, r.stderr
    assert "refusing to deploy: these changes lose data" in r.stderr
    assert f"volume-web-2-data (Volume {repo.prefix}-web-2-data): deleted with the data on it" in r.stderr
    assert any(v.name == f"{repo.prefix}-web-2-data" for v in conn.block_storage.volumes())

    r = repo.run("deploy", repo.manifest, "--yes", "--allow-data-loss")
    assert r.returncode == 0, r.stderr
    names = {s.name for s in conn.compute.servers() if s.name.startswith(repo.prefix)}
    assert names == {f"{repo.prefix}-web-1"}
    assert not any(v.name == f"{repo.prefix}-web-2-data" for v in conn.block_storage.volumes())
    assert_cloud_matches_state(conn, repo)


# ---------------------------------------------------------------- 4. a change: exactly what it says


def _grown(doc):
    web = doc["spec"]["servers"][0]
    web["count"] = 2
    web["volumes"].append({"name": "logs", "sizeGb": 1, "type": "standard"})
    doc["spec"]["network"]["ingress"].append({"name": "http", "port": 80, "protocol": "tcp", "from": "0.0.0.0/0"})


HEADLINE = {  # the manifest change as a person reads it: a rule, a second server, a volume on each
    "secgroup-ingress-http", "port-web-2", "server-web-2", "volume-web-2-data", "attach-web-2-data",
    "floating-ip-web-2", "floating-ip-assoc-web-2", "volume-web-1-logs", "attach-web-1-logs",
    "volume-web-2-logs", "attach-web-2-logs",
}


def test_change_shows_and_applies_exactly_those_changes(repo, conn):
    before = _plan(repo)
    repo.write(_grown)
    after = _plan(repo)
    doc = repo.diff()
    assert_preview_follows_plans(doc, before, after)
    assert HEADLINE <= {k for k, v in ops(doc).items() if v == "create"}
    assert doc["dataLoss"] == []
    expected = doc["counts"]

    r = repo.run("deploy", repo.manifest)  # no terminal, no --yes
    assert r.returncode == 1
    assert "stdin is not a terminal" in r.stderr and "--yes" in r.stderr
    assert not any(s.name == f"{repo.prefix}-web-2" for s in conn.compute.servers())
    # the refused deploy's engine child, kept after its preview, got no go-ahead and applied nothing
    assert "no go-ahead for the previewed change; exiting, nothing applied" in engine_logs(repo, "preview")[-1]

    r = repo.run("deploy", repo.manifest, "--yes")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^deployed \S+ in [\d.]+ s: (.*)$", r.stdout, re.M)
    assert m, r.stdout
    done = dict((op, int(n)) for op, n in re.findall(r"(\w+) (\d+)", m.group(1)))
    past = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}
    assert done == {past[k]: v for k, v in expected.items() if k in past}
    last = json.loads(repo.run("history", repo.manifest, "--format", "json", "--limit", "1").stdout)[0]
    assert last["result"] == "succeeded" and last["resourceChanges"].get("create") == expected["create"]

    sg = conn.network.find_security_group(f"{repo.prefix}-sg", project_id=conn.current_project_id)
    assert any(x.port_range_min == 80 for x in conn.network.security_group_rules(security_group_id=sg.id))
    for n in (1, 2):
        srv = next(s for s in conn.compute.servers() if s.name == f"{repo.prefix}-web-{n}")
        attached = {v.name for v in conn.block_storage.volumes() if any(a["server_id"] == srv.id
                                                                        for a in v.attachments)}
        assert attached == {f"{repo.prefix}-web-{n}-data", f"{repo.prefix}-web-{n}-logs"}
    assert ops(repo.diff()) == {}
    assert_cloud_matches_state(conn, repo)


# ---------------------------------------------------------------- 5. concurrency


def _with_api(count):
    def mutate(doc):
        _grown(doc)
        doc["spec"]["servers"].append({"name": "api", "size": "small", "image": "ubuntu-22.04", "count": count,
                                       "role": "app", "publicIp": False,
                                       "volumes": [{"name": "cache", "sizeGb": 1, "type": "standard"}]})
    return mutate


def test_a_second_deploy_while_one_runs_is_locked(repo, conn):
    repo.write(_with_api(1))
    first = repo.start("deploy", repo.manifest, "--yes")
    assert first.wait_for(r"previewing|deploying", 120), first.stderr
    t0 = time.monotonic()
    second = repo.run("deploy", repo.manifest, "--yes", timeout=120)
    assert time.monotonic() - t0 < 30
    assert second.returncode == 3, second.stderr
    assert re.search(r"stack govcloud-moe/\S+ is locked by govcloud deploy .*\(pid \d+, \S+@\S+, since ", second.stderr)
    assert "Traceback" not in second.stderr
    assert first.wait() == 0, first.stderr
    assert_cloud_matches_state(conn, repo)


# ---------------------------------------------------------------- 6. Ctrl-C


def test_sigint_half_way_stops_safely_and_the_next_deploy_finishes(repo, conn):
    repo.write(_with_api(2))
    run = repo.start("deploy", repo.manifest, "--yes")
    assert run.wait_for(r"^\s+created ", 300), run.stderr
    run.proc.send_signal(signal.SIGINT)  # what Ctrl-C does to govcloud
    rc = run.wait()
    assert rc == 3, run.stderr
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    st = json.loads(repo.run("status", repo.manifest, "--format", "json").stdout)
    assert st["locks"] == [] and st["pendingOperations"] == 0  # stopped cleanly
    r = repo.run("deploy", repo.manifest, "--yes")
    assert r.returncode == 0, r.stderr
    assert ops(repo.diff()) == {}
    assert_cloud_matches_state(conn, repo)


# ---------------------------------------------------------------- 7. SIGKILL


def test_sigkill_half_way_is_recovered_without_orphans_or_duplicates(repo, conn):
    repo.write(_with_api(4))
    run = repo.start("deploy", repo.manifest, "--yes")
    assert run.wait_for(r"^\s+created ", 300), run.stderr
    time.sleep(1.0)  # let more creates get in flight
    tree = process_tree(run.proc.pid)
    assert len(tree) >= 3, "govcloud, its engine child and the pulumi CLI"
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.wait()
    st = json.loads(repo.run("status", repo.manifest, "--format", "json").stdout)
    print(f"\nafter SIGKILL: {st['resources']} resources, {st['pendingOperations']} pending, locks {st['locks']}")
    assert st["locks"], "a killed engine leaves its lock behind"

    r = repo.run("deploy", repo.manifest, "--yes")
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert "recovery: removed the engine lock" in r.stderr
    if st["pendingOperations"]:
        assert "recovery: refreshing the state from the cloud" in r.stderr
    assert ops(repo.diff()) == {}
    inv = assert_cloud_matches_state(conn, repo)
    assert len(inv["server"]) == 2 + 4 and len(inv["volume"]) == 4 + 4


# ---------------------------------------------------------------- 8. destroy


def test_destroy_refuses_data_loss_then_leaves_nothing(repo, conn):
    r = repo.run("destroy", repo.manifest, "--yes")
    assert r.returncode == 1
    assert "refusing to destroy" in r.stderr and "bucket-uploads" in r.stderr and "volume-web-1-data" in r.stderr
    assert cloud_inventory(conn, repo.prefix)["server"], "nothing was deleted"

    t0 = time.monotonic()
    r = repo.run("destroy", repo.manifest, "--yes", "--allow-data-loss")
    print(f"\ndestroy: {time.monotonic() - t0:.1f} s")
    assert r.returncode == 0, r.stderr
    left = {k: v for k, v in cloud_inventory(conn, repo.prefix).items() if v}
    assert left == {}, f"left in {PROJECT}: {left}"
    assert repo.state_resources() == {}
    st = json.loads(repo.run("status", repo.manifest, "--format", "json").stdout)
    assert st["resources"] == 0 and st["locks"] == []


# ---------------------------------------------------------------- engine failure: exit 3, the provider's words


def test_engine_failure_exits_3_with_the_providers_message(tmp_path, conn):
    bad = Repo(tmp_path / "bad", f"broken-{secrets.token_hex(2)}")
    site = bad.root / "inventories" / "sites" / "devcloud.yaml"
    text = site.read_text()
    site.write_text(re.sub(r"ubuntu-22.04: \{image: ubuntu-22.04,", "ubuntu-22.04: {image: no-such-image-e2e,",
                           text))
    assert "no-such-image-e2e" in site.read_text()

    def minimal(doc):
        doc["spec"]["network"]["cidr"] = "10.81.0.0/24"
        web = doc["spec"]["servers"][0]
        web.update(count=1, publicIp=False, volumes=[])
        doc["spec"]["buckets"] = []
    bad.write(minimal)
    try:
        r = bad.run("deploy", bad.manifest, "--yes")
        assert r.returncode == 3, f"{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        assert "server-web-1:" in r.stderr and "no-such-image-e2e" in r.stderr
    finally:
        d = bad.run("destroy", bad.manifest, "--yes", "--allow-data-loss")
        assert d.returncode == 0, d.stderr
        assert not any(cloud_inventory(conn, bad.prefix).values())


# ---------------------------------------------------------------- deploy --skip-preview: a first deploy only


def test_skip_preview_deploys_an_empty_stack_in_one_up_and_refuses_one_that_holds_resources(tmp_path, conn):
    first = Repo(tmp_path / "first", f"first-{secrets.token_hex(2)}")

    def minimal(doc):
        doc["spec"]["network"]["cidr"] = "10.82.0.0/24"
        doc["spec"]["servers"][0].update(count=1, publicIp=False)
        doc["spec"]["buckets"] = []
    first.write(minimal)
    try:
        r = first.run("deploy", first.manifest, "--yes", "--skip-preview")
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        assert engine_logs(first, "preview") == [] and len(engine_logs(first, "up")) == 1  # no preview ran
        inv = assert_cloud_matches_state(conn, first)
        assert len(inv["server"]) == len(inv["volume"]) == 1 and len(first.state_resources()) > 5
        assert "server-web-1" in r.stdout  # the review of the creates was shown

        again = first.run("deploy", first.manifest, "--yes", "--skip-preview")
        assert again.returncode == 1, f"{again.stdout}\n{again.stderr}"
        assert "Traceback" not in again.stderr and "holds resources" in again.stderr
        assert len(engine_logs(first, "up")) == 1  # refused before any engine run
        assert ops(first.diff()) == {}  # what it deployed is exactly the plan
    finally:
        d = first.run("destroy", first.manifest, "--yes", "--allow-data-loss")
        assert d.returncode == 0, d.stderr
        assert not any(cloud_inventory(conn, first.prefix).values())
