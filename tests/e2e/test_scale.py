"""Past one machine, for real: the Pulumi postgres backend and govcloud's shared tables on the project's
PostgreSQL (scripts/postgres), two queue workers in separate processes with separate work directories
(two config repo checkouts standing in for two machines), the dev cloud's OpenStack.

1. a directory of 6 services of 3 agencies deploys through the queue and both workers; state secrets stay
   encrypted in the database
2. two manifests change: exactly those two stacks run
3. two processes on one stack: one runs, the other is told "locked by <who, where, since>"
4. kill -9 of a worker mid-apply: its job shows stalled, is never retried; the next deploy recovers the stack,
   leaving no orphan and no duplicate in the cloud (checked with openstacksdk by name)

Network-only services (and one small server for the kill) keep the shared 2-core dev cloud's load low.
Run this file alone: `pytest tests/e2e/test_scale.py`. Every stack it creates is destroyed at the end.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.stackrepo import cmdline, preconditions, process_tree

REPO = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(2)
PASSPHRASE = "e2e-scale-" + secrets.token_hex(6)
STALE = 20  # GOVCLOUD_LOCK_STALE_SECONDS for these processes: a dead holder is recognised after 20 s
SERVICES = [("moe", 0), ("moh", 1), ("mefa", 2), ("moe", 3), ("moh", 4), ("mefa", 5)]


def pg_env() -> dict[str, str]:
    r = subprocess.run([str(REPO / "scripts" / "postgres"), "status"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"PostgreSQL is not up ({r.stdout.strip()}): run `scripts/postgres install && scripts/postgres "
                    f"up`", pytrace=False)
    out = subprocess.run([str(REPO / "scripts" / "postgres"), "env"], capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = v.strip("'")
    return env


def service_name(i: int) -> str:
    return f"scale{TOKEN}-s{i}"


def manifest(agency: str, i: int, cidr_third: int | None = None, server: bool = False) -> dict:
    doc = {"apiVersion": "govcloud/v1", "kind": "Service",
           "metadata": {"name": service_name(i), "agency": agency, "environment": "dev",
                        "owner": f"ops@{agency}.gov.example", "costCenter": "E2E-1", "classification": "internal"},
           "spec": {"site": "devcloud", "network": {"cidr": f"10.{120 + i}.{cidr_third or 0}.0/24"}}}
    if server:
        doc["spec"]["servers"] = [{"name": "app", "size": "small", "image": "ubuntu-22.04", "count": 1,
                                   "role": "web"}]
    return doc


class Machine:
    """A config repo checkout with its own state directory: one 'machine'."""

    def __init__(self, root: Path, url: str, env: dict[str, str]):
        self.root = root
        (root / "manifests").mkdir(parents=True)
        shutil.copytree(REPO / "inventories", root / "inventories")
        (root / "govcloud.yaml").write_text(f"apiVersion: govcloud/v1\nkind: Config\nbackend: {url}\n")
        self.base_env = env

    def write(self, agency: str, i: int, **kw) -> Path:
        path = self.root / "manifests" / agency / f"s{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest(agency, i, **kw), sort_keys=False))
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env.update(self.base_env)
        env.update({"GOVCLOUD_PASSPHRASE": PASSPHRASE, "NO_COLOR": "1", "PYTHONPATH": str(REPO),
                    "GOVCLOUD_LOCK_STALE_SECONDS": str(STALE)})
        return env

    def argv(self, *args) -> list[str]:
        return [sys.executable, "-m", "govcloud", *map(str, args)]

    def run(self, *args, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *args, log: str) -> subprocess.Popen:
        out = open(self.root / log, "w")
        return subprocess.Popen(self.argv(*args), cwd=self.root, env=self.env(), stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def kill_tree(pid: int) -> None:
    for p in process_tree(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    preconditions()
    env = pg_env()
    url = env["GOVCLOUD_PG_TEST_URL"]
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as c:  # the test database
        c.execute("DROP SCHEMA public CASCADE")
        c.execute("CREATE SCHEMA public")
    base = tmp_path_factory.mktemp("scale")
    m1, m2 = Machine(base / "m1", url, env), Machine(base / "m2", url, env)
    for m in (m1, m2):
        for agency, i in SERVICES:
            m.write(agency, i)
    workers = {"w1": m1.start("worker", "--name", "w1", log="worker.log"),
               "w2": m2.start("worker", "--name", "w2", log="worker.log")}
    ctx = {"m1": m1, "m2": m2, "workers": workers, "url": url}
    yield ctx
    for w in ctx["workers"].values():
        kill_tree(w.pid)
    from concurrent.futures import ThreadPoolExecutor

    def destroy(f: Path) -> str:
        r = m1.run("destroy", f, "--yes", "--allow-data-loss", timeout=900)
        return f"cleanup {f.name}: rc {r.returncode} {r.stdout.strip()[-120:]} {r.stderr.strip()[-300:]}"

    with ThreadPoolExecutor(2) as pool:  # two at a time, like the two workers: half the teardown on 2 cores
        for line in pool.map(destroy, sorted((m1.root / "manifests").rglob("*.yaml"))):
            print(line)


def db(setup):
    import psycopg

    return psycopg.connect(setup["url"].replace("postgres://", "postgresql://"), autocommit=True)


def jobs(machine: Machine) -> list[dict]:
    r = machine.run("jobs", "--format", "json", "--limit", "200")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cloud(agency: str, prefix: str) -> dict[str, list[str]]:
    from govcloud.cloud.credentials import connect

    conn = connect("devcloud", f"gov-{agency}", "RegionOne", api_timeout=60)
    pid = conn.current_project_id
    return {"network": [n.name for n in conn.network.networks(project_id=pid) if n.name.startswith(prefix)],
            "subnet": [n.name for n in conn.network.subnets(project_id=pid) if n.name.startswith(prefix)],
            "router": [n.name for n in conn.network.routers(project_id=pid) if n.name.startswith(prefix)],
            "secgroup": [g.name for g in conn.network.security_groups(project_id=pid) if g.name.startswith(prefix)],
            "port": [p.name for p in conn.network.ports(project_id=pid) if (p.name or "").startswith(prefix)],
            "server": [s.name for s in conn.compute.servers() if s.name.startswith(prefix)]}


def state(setup, agency: str, i: int) -> dict:
    with db(setup) as c:
        row = c.execute("SELECT data FROM pulumi_state WHERE key LIKE %s",
                        (f"%/.pulumi/stacks/govcloud-{agency}/{service_name(i)}-dev.json",)).fetchone()
    assert row, f"no state of {service_name(i)} in the database"
    return json.loads(base64.b64decode(row[0]["data"]))


# ---------------------------------------------------------------- 1. six services, three agencies, two workers


def test_a_directory_deploys_through_two_workers(setup):
    m1 = setup["m1"]
    t0 = time.monotonic()
    r = m1.run("deploy", "manifests", "--queue", "--yes", "--format", "json", timeout=1500)
    print(f"\n6 stacks through 2 workers: {time.monotonic() - t0:.1f} s\n{r.stderr[-1500:]}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"changed": 6, "unchanged": 0, "failed": 0, "orphaned": 0}
    assert {s["status"] for s in doc["stacks"]} == {"applied"}
    ran_on = {j["worker"] for j in jobs(m1) if j["id"] in doc["queueJobs"]}
    assert ran_on == {"w1", "w2"}, f"both workers ran jobs: {ran_on}"
    for agency, i in SERVICES:
        inv = cloud(agency, f"{agency}-dev-{service_name(i)}")
        assert [len(inv[k]) for k in ("network", "subnet", "router", "secgroup")] == [1, 1, 1, 1], inv
    # the index and the audit log are in the database, for every machine
    r = setup["m2"].run("stacks", "--format", "json")
    assert {e["stack"] for e in json.loads(r.stdout)} >= {f"govcloud-{a}/{service_name(i)}-dev" for a, i in SERVICES}
    with db(setup) as c:
        assert c.execute("SELECT count(*) FROM govcloud_audit WHERE record->>'operation' = 'deploy' "
                         "AND record->>'result' = 'ok'").fetchone()[0] == 6
        with pytest.raises(Exception, match="append-only"):
            c.execute("DELETE FROM govcloud_audit")


def test_state_secrets_stay_encrypted_in_the_database(setup):
    import openstack.config

    password = openstack.config.OpenStackConfig().get_one("devcloud").auth.get("password")
    assert password, "the dev cloud's clouds.yaml entry has a password"
    with db(setup) as c:
        blobs = [base64.b64decode(r[0]["data"]) for r in c.execute("SELECT data FROM pulumi_state").fetchall()]
    assert blobs and not any(json.dumps(password).encode() in b for b in blobs), "the password in clear"
    dep = state(setup, "moe", 0)["checkpoint"]["latest"]
    prov = next(r for r in dep["resources"] if r["type"] == "pulumi:providers:openstack")
    secret = prov["inputs"]["password"]
    assert secret.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270"
    assert "ciphertext" in secret and "plaintext" not in secret


# ---------------------------------------------------------------- 2. only what changed


def test_changing_two_manifests_runs_exactly_those_two(setup):
    m1, m2 = setup["m1"], setup["m2"]
    for m in (m1, m2):  # both checkouts at the same "commit"
        m.write("moh", 1, cidr_third=7)
        p = m.root / "manifests" / "mefa" / "s5.yaml"
        p.write_text(p.read_text() + "# reviewed by the ministry\n")
    r = m2.run("deploy", "manifests", "--queue", "--yes", "--format", "json", timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    ran = sorted(s["stack"] for s in doc["stacks"])
    assert ran == sorted([f"govcloud-moh/{service_name(1)}-dev", f"govcloud-mefa/{service_name(5)}-dev"])
    # 4 not run, 1 previewed and found unchanged (only a comment moved), 1 applied
    assert doc["counts"] == {"changed": 1, "unchanged": 5, "failed": 0, "orphaned": 0}
    by = {s["stack"]: s for s in doc["stacks"]}
    assert by[f"govcloud-moh/{service_name(1)}-dev"]["status"] == "applied"  # its subnet moved
    assert by[f"govcloud-mefa/{service_name(5)}-dev"]["status"] == "unchanged"  # only a comment
    r = m1.run("deploy", "manifests", "--format", "json")  # nothing left to do: no engine, nothing queued
    assert r.returncode == 0 and json.loads(r.stdout)["counts"]["unchanged"] == 6, r.stderr


# ---------------------------------------------------------------- 3. one stack, two processes, two machines


def test_a_second_process_on_one_stack_is_told_who_holds_it(setup):
    m1, m2 = setup["m1"], setup["m2"]
    for m in (m1, m2):
        m.write("moe", 0, cidr_third=9)  # a change, so the first run holds the stack through an apply
    first = m1.start("deploy", m1.root / "manifests" / "moe" / "s0.yaml", "--yes", log="lock-first.log")
    stack = f"govcloud-moe/{service_name(0)}-dev"
    deadline = time.monotonic() + 120
    with db(setup) as c:
        while not c.execute("SELECT 1 FROM govcloud_stack_locks WHERE stack = %s", (stack,)).fetchone():
            assert time.monotonic() < deadline and first.poll() is None, (m1.root / "lock-first.log").read_text()
            time.sleep(0.2)
    second = m2.run("deploy", m2.root / "manifests" / "moe" / "s0.yaml", "--yes")
    assert second.returncode == 3, second.stderr
    assert f"stack {stack} is locked by govcloud deploy" in second.stderr
    assert "@" in second.stderr and "since 20" in second.stderr and "Traceback" not in second.stderr
    assert first.wait(600) == 0, (m1.root / "lock-first.log").read_text()


# ---------------------------------------------------------------- 4. kill -9 of a worker mid-apply


def test_a_killed_worker_stalls_its_job_and_the_next_deploy_recovers(setup):
    m1, m2 = setup["m1"], setup["m2"]
    kill_tree(setup["workers"].pop("w2").pid)  # one worker left: the one to kill
    for m in (m1, m2):
        m.write("moe", 6, server=True)
    stack, prefix = f"govcloud-moe/{service_name(6)}-dev", f"moe-dev-{service_name(6)}"
    r = m1.run("deploy", "manifests", "--queue", "--no-wait", "--yes", "--format", "json")
    assert r.returncode == 0, r.stderr
    (job_id,) = json.loads(r.stdout)["queueJobs"]
    w1 = setup["workers"]["w1"]
    deadline = time.monotonic() + 300
    while True:  # mid-apply: the engine is running and has created something in the cloud
        names = [p for p in process_tree(w1.pid)
                 if b"pulumi" in cmdline(p)] if w1.poll() is None else []
        if names and cloud("moe", prefix)["network"]:
            break
        assert time.monotonic() < deadline, (m1.root / "worker.log").read_text()
        time.sleep(0.5)
    time.sleep(2)
    kill_tree(w1.pid)
    setup["workers"].pop("w1")

    deadline = time.monotonic() + STALE + 60
    while (j := next(j for j in jobs(m1) if j["id"] == job_id))["state"] != "stalled":
        assert j["state"] == "running" and time.monotonic() < deadline, j
        time.sleep(2)
    assert j["worker"] == "w1" and j["queuedBy"]

    # a new worker on the other machine marks it for recovery, and never retries it
    setup["workers"]["w3"] = m2.start("worker", "--name", "w3", log="worker3.log")
    time.sleep(8)
    same_stack = [x for x in jobs(m1) if x["stack"] == stack]
    assert [x["id"] for x in same_stack] == [job_id] and same_stack[0]["state"] == "stalled"
    with db(setup) as c:
        assert c.execute("SELECT attempts, status::text FROM procrastinate_jobs WHERE id = %s",
                         (job_id,)).fetchone() == (1, "failed")
        assert "stalled" in c.execute("SELECT needs_recovery FROM govcloud_stacks WHERE stack = %s",
                                      (stack,)).fetchone()[0]

    r = m2.run("deploy", "manifests", "--queue", "--yes", "--format", "json", timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert [s["stack"] for s in doc["stacks"]] == [stack], doc["stacks"]
    notes = " ".join(doc["stacks"][0]["notes"])
    print(f"\nrecovery notes: {notes}")
    assert "cleared the stack lock of a run that stopped" in notes and "recovery:" in notes
    inv = cloud("moe", prefix)
    assert [len(inv[k]) for k in ("network", "subnet", "router", "secgroup", "server")] == [1, 1, 1, 1, 1], inv
    assert len(inv["port"]) == 1, inv
    dep = state(setup, "moe", 6)["checkpoint"]["latest"]
    assert not dep.get("pending_operations")
    ids = {r.get("id") for r in dep["resources"] if not r["type"].startswith("pulumi:")}
    assert len([r for r in dep["resources"] if r["type"].endswith("Instance")]) == 1 and None not in ids
    with db(setup) as c:
        assert c.execute("SELECT needs_recovery FROM govcloud_stacks WHERE stack = %s", (stack,)).fetchone()[0] is None


# ---------------------------------------------------------------- 5. the shared audit log: one hash chain


def test_the_shared_audit_log_is_one_chain_that_verify_checks(setup):
    m1, m2 = setup["m1"], setup["m2"]
    with db(setup) as c:
        rows = c.execute("SELECT id, record FROM govcloud_audit ORDER BY id").fetchall()
    assert len(rows) >= 8 and [r["seq"] for _, r in rows] == list(range(1, len(rows) + 1)), \
        "every machine's records in one chain, in row order"
    r = m2.run("audit", "verify", "--format", "json", timeout=600)  # the other machine's checkout: the same log
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["chained"] == len(rows) and doc["file"].endswith("govcloud_audit"), doc
    tags = [h for h in doc["heads"] if h["where"].startswith("the state of stack")]
    logged = {r["stack"] for _, r in rows}  # (the killed run of test 4 wrote no record; its recovery changed nothing)
    assert len(tags) == len(logged) >= 6 and all(h["ok"] for h in tags), doc["heads"]  # each stack's head matches
    assert any(h["where"] == "the append-only guard of the table" and h["ok"] for h in doc["heads"]), doc["heads"]

    with db(setup) as c:  # only the table's owner can get past the trigger: turn it off, change the first row
        with pytest.raises(Exception, match="append-only"):
            c.execute("UPDATE govcloud_audit SET record = jsonb_set(record, '{user}', '\"someone\"')")
        c.execute("ALTER TABLE govcloud_audit DISABLE TRIGGER govcloud_audit_no_change")
        first_id = rows[0][0]
        c.execute("UPDATE govcloud_audit SET record = jsonb_set(record, '{user}', '\"someone\"') WHERE id = %s",
                  (first_id,))
    r = m1.run("audit", "verify", timeout=600)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert f"govcloud_audit id {first_id}: record #1 was changed" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "guard" in r.stdout + r.stderr and "disabled: govcloud_audit_no_change" in r.stdout + r.stderr
    with db(setup) as c:
        c.execute("ALTER TABLE govcloud_audit ENABLE TRIGGER govcloud_audit_no_change")
