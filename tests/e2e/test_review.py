"""Reviewing changes for real: previews from the engine on the dev cloud, the data-loss guard, saved plans.

A small service (one server with one 2 GB volume, no public IP, no bucket) in its own temporary config
repo; the tests run in file order on one stack:

1. a declined deploy and a `diff --out` of a new stack leave no stack behind; the saved plan applies;
2. growing the server's size is an update in place, with the cost delta of the rate card; its saved plan
   applies and the server has the new flavor;
3. a saved plan is refused once the manifest changed, and once the stack changed, and nothing changes;
4. shrinking the volume and renaming it are refused without --allow-data-loss (exit 1, the volume stays);
5. destroy is refused while the volume would go, then allowed.

These tests FAIL (never skip) when the dev cloud or the Pulumi toolchain is missing.
"""
from __future__ import annotations

import json
import secrets

import pytest
from stackrepo import Repo, ops, preconditions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

# the devcloud rate card (inventories/sites/devcloud.yaml): 9,000 IRR per vCPU-hour, 2,500 per GB-hour of
# RAM, 730 hours a month. small is 1 vCPU / 1 GB, medium 2 vCPU / 4 GB: +1 vCPU and +3 GB RAM.
GROWTH_PER_MONTH = (1 * 9000 + 3 * 2500) * 730  # 12,045,000 IRR


def small(doc: dict) -> None:
    doc["spec"]["network"]["cidr"] = "10.81.0.0/24"
    doc["spec"]["buckets"] = []
    web = doc["spec"]["servers"][0]
    web.update(count=1, publicIp=False, volumes=[{"name": "data", "sizeGb": 2, "type": "standard"}])


def then(*steps):
    def mutate(doc):
        small(doc)
        for step in steps:
            step(doc)
    return mutate


def medium(doc):
    doc["spec"]["servers"][0]["size"] = "medium"


def port(n):
    def add_rule(doc):
        doc["spec"]["network"]["ingress"].append({"name": f"alt{n}", "port": n, "protocol": "tcp",
                                                  "from": "10.0.0.0/8"})
    return add_rule


@pytest.fixture(scope="module")
def conn():
    preconditions()
    from govcloud.cloud.credentials import connect

    return connect("devcloud", "gov-moe", "RegionOne", api_timeout=60)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, conn):
    r = Repo(tmp_path_factory.mktemp("govcloud-review"), f"review-{secrets.token_hex(2)}")
    r.write(small)
    yield r
    r.destroy_leftovers()


def review(repo, *args) -> dict:
    r = repo.run("diff", repo.manifest, "--format", "json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def volume(conn, repo):
    (vol,) = [v for v in conn.block_storage.volumes() if (v.name or "").startswith(f"{repo.prefix}-web-1-")]
    return vol


def rules(conn, repo) -> set:
    sg = conn.network.find_security_group(f"{repo.prefix}-sg", ignore_missing=False)
    return {r.port_range_min for r in conn.network.security_group_rules(security_group_id=sg.id)}


# ---------------------------------------------------------------- 1. a saved plan creates the stack


def test_saved_plan_of_a_new_stack_applies(repo, conn):
    # a deploy declined after its preview (no terminal, no --yes) and a diff leave no stack behind
    declined = repo.run("deploy", repo.manifest)
    assert declined.returncode == 1 and "--yes" in declined.stderr, declined.stdout + declined.stderr
    assert not repo.stack_file().exists(), "the declined deploy's preview left an empty stack"
    plan_file = repo.root / "create.plan"
    doc = review(repo, "--out", plan_file)
    assert set(ops(doc).values()) == {"create"} and doc["dataLoss"] == []
    assert plan_file.is_file()
    assert not repo.stack_file().exists(), "the diff of a new stack left an empty stack"
    r = repo.run("deploy", repo.manifest, "--plan", plan_file, "--yes")
    assert r.returncode == 0, r.stderr
    assert len(repo.state_resources()) == len(ops(doc))
    assert volume(conn, repo).size == 2


# ---------------------------------------------------------------- 2. grow a size: update, cost delta


def test_growing_the_size_is_an_update_with_its_cost_delta(repo, conn):
    repo.write(then(medium))
    plan_file = repo.root / "grow.plan"
    doc = review(repo, "--out", plan_file)
    assert ops(doc) == {"server-web-1": "update"}
    (server,) = [c for c in doc["changes"] if c["key"] == "server-web-1"]
    flavor = [f for f in server["fields"] if "flavor" in f["path"].lower()]
    assert flavor and flavor[0]["old"] == "gc.small" and flavor[0]["new"] == "gc.medium", server["fields"]
    assert server["cost"]["monthlyDelta"] == GROWTH_PER_MONTH
    assert doc["cost"]["monthlyDelta"] == GROWTH_PER_MONTH
    assert doc["cost"]["monthlyAfter"] - doc["cost"]["monthlyBefore"] == GROWTH_PER_MONTH
    assert doc["dataLoss"] == []

    md = repo.run("diff", repo.manifest, "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert "+12,045,000" in md.stdout and "server-web-1" in md.stdout

    r = repo.run("deploy", repo.manifest, "--plan", plan_file, "--yes")
    assert r.returncode == 0, r.stderr
    (srv,) = [s for s in conn.compute.servers() if s.name == f"{repo.prefix}-web-1"]
    assert srv.flavor.get("original_name", srv.flavor.get("name")) == "gc.medium"
    assert ops(review(repo)) == {}


# ---------------------------------------------------------------- 3. a saved plan fails closed


def test_saved_plan_is_refused_after_the_manifest_changed(repo, conn):
    plan_file = repo.root / "rule.plan"
    repo.write(then(medium, port(2222)))
    review(repo, "--out", plan_file)
    repo.write(then(medium, port(2223)))
    r = repo.run("deploy", repo.manifest, "--plan", plan_file, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"refusing to deploy the saved plan {plan_file}: it no longer matches" in r.stderr
    assert "Traceback" not in r.stderr
    assert not rules(conn, repo) & {2222, 2223}


def test_saved_plan_is_refused_after_the_stack_changed(repo, conn):
    plan_file = repo.root / "stale.plan"
    repo.write(then(medium, port(2223)))
    review(repo, "--out", plan_file)
    r = repo.run("deploy", repo.manifest, "--yes")  # someone deploys the same change first
    assert r.returncode == 0, r.stderr
    state = repo.checkpoint()
    r = repo.run("deploy", repo.manifest, "--plan", plan_file, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no longer matches" in r.stderr
    assert repo.checkpoint() == state


# ---------------------------------------------------------------- 4. data loss is refused


@pytest.mark.parametrize("change, forced_by", [
    (lambda d: d["spec"]["servers"][0]["volumes"][0].update(sizeGb=1), "size"),
    (lambda d: d["spec"]["servers"][0]["volumes"][0].update(name="store"), None),
], ids=["shrink-volume", "rename-volume"])
def test_losing_the_volume_is_refused(repo, conn, change, forced_by):
    kept = volume(conn, repo)
    repo.write(then(medium, port(2223), change))
    doc = review(repo)
    assert doc["blocked"] and [d["key"] for d in doc["dataLoss"]] == ["volume-web-1-data"]
    if forced_by:  # shrinking: Cinder cannot, so the volume is replaced, and the review says by which field
        assert ops(doc)["volume-web-1-data"] == "replace"
        (vol,) = [c for c in doc["changes"] if c["key"] == "volume-web-1-data"]
        assert any(forced_by in reason for reason in vol["replaceReasons"]), vol
    else:  # a new name is a new volume: the old one is deleted
        assert ops(doc)["volume-web-1-data"] == "delete" and ops(doc)["volume-web-1-store"] == "create"

    r = repo.run("deploy", repo.manifest, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "refusing to deploy: these changes lose data" in r.stderr and "volume-web-1-data" in r.stderr
    assert "--allow-data-loss" in r.stderr
    now = volume(conn, repo)
    assert (now.id, now.size, now.name) == (kept.id, kept.size, kept.name)


# ---------------------------------------------------------------- 5. destroy


def test_destroy_is_refused_then_allowed(repo, conn):
    repo.write(then(medium, port(2223)))
    r = repo.run("destroy", repo.manifest, "--yes")
    assert r.returncode == 1 and "refusing to destroy" in r.stderr and "volume-web-1-data" in r.stderr
    assert volume(conn, repo)
    r = repo.run("destroy", repo.manifest, "--yes", "--allow-data-loss")
    assert r.returncode == 0, r.stderr
    assert not [v for v in conn.block_storage.volumes() if (v.name or "").startswith(repo.prefix)]
    assert not [s for s in conn.compute.servers() if s.name.startswith(repo.prefix)]
