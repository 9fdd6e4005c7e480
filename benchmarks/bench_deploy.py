"""Benchmark: deploy and no-change redeploy of the citizen portal (23 resources) on the dev cloud,
through govcloud vs a hand-written Pulumi program creating the same resources on the same engine.

    .venv/bin/python benchmarks/bench_deploy.py [--runs 3] [--json out.json]
        [--before DIR] [--replace-runs N] [--hand-events] [--hand-env NAME=VALUE ...] [--timeline]
        [--skip-preview] [--settle SECONDS]

Both sides run the same Pulumi CLI, the same OpenStack plugin, a file:// backend in a temporary
directory with the passphrase secrets provider, and the same dev cloud project (gov-moe); both are
timed as a user runs them, one command each, wall clock from process start to exit:

- govcloud:    `govcloud deploy portal.yaml --yes` (validate + policy + compile, the agency's access
               check, lock, state check, preview in an engine child, then `up` in the same child);
- hand-written: `python bench_deploy.py --hand up` (this file: an inline Pulumi program written out
               by hand with the same 23 resources and inputs, one Automation API `stack.up()`; no
               preview, no guard: what a minimal script does);
- with --hand-events, a third side: the same hand-written program with an `on_event` callback
               (the Automation API then streams the engine's events to it), which is how
               govcloud's engine child follows every step; the callback does nothing;
- with --hand-env NAME=VALUE, another side: the hand-written program with that environment (for
               example PULUMI_PARALLEL=64: the engine's parallelism, by default 4 per CPU), alternating
               with the plain one.

With --before DIR, govcloud from that checkout too (PYTHONPATH=DIR), alternating with this one.
With --skip-preview, another govcloud side: the first deploy as `govcloud deploy portal.yaml --yes
--skip-preview` (no preview: the stack is empty; the hand-written program does not preview either),
its redeploy a plain one, alternating with the plain side.
With --settle SECONDS, a pause after every destroy, so that the next side's first deploy does not meet
the cloud still busy with the last one's deletions (default 0: each side starts right after the last).
With --replace-runs N, after the runs: N deploys that replace one security-group rule (a small
apply, so mostly fixed costs; alternating with --before's), timed the same way.
With --timeline, after the runs: when each resource of the last govcloud first deploy started and
ended (deploy_timeline.py over that up's events file: the critical path, in whole seconds).

Per run: deploy (cold stack), then redeploy with no change, then destroy (not timed). Medians of
--runs runs; govcloud's phases come from GOVCLOUD_TIMINGS. Needs the toolchain
(scripts/install-toolchain) and the dev cloud (sudo scripts/devcloud up).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
EXAMPLE = REPO / "examples" / "devcloud" / "citizen-portal.yaml"
GOVCLOUD = Path(sys.executable).with_name("govcloud")
PASSPHRASE = "bench-" + secrets.token_hex(6)


# ---------------------------------------------------------------- the hand-written program


def hand_program(prefix: str, user_data: str, password: str):
    """The citizen portal written out by hand with pulumi_openstack (what govcloud's plan holds, no plan)."""
    import pulumi
    import pulumi_openstack as openstack

    def program():
        p = openstack.Provider("openstack", auth_url="http://127.0.0.1:5000/v3", user_name="admin",
                               password=pulumi.Output.secret(password), tenant_name="gov-moe",
                               user_domain_name="Default", project_domain_name="Default", region="RegionOne")
        o = pulumi.ResourceOptions(provider=p)
        tags = ["govcloud:agency=moe", "govcloud:service=bench", "govcloud:environment=dev"]
        public = openstack.networking.get_network_output(name="public", opts=pulumi.InvokeOutputOptions(provider=p))
        net = openstack.networking.Network("network", name=f"{prefix}-net", admin_state_up=True, tags=tags, opts=o)
        subnet = openstack.networking.Subnet("subnet", name=f"{prefix}-subnet", network_id=net.id,
                                             cidr="10.82.0.0/24", ip_version=4, enable_dhcp=True, tags=tags, opts=o)
        router = openstack.networking.Router("router", name=f"{prefix}-router", admin_state_up=True,
                                             external_network_id=public.id, tags=tags, opts=o)
        ri = openstack.networking.RouterInterface("router-interface", router_id=router.id, subnet_id=subnet.id,
                                                  opts=o)
        sg = openstack.networking.SecGroup("secgroup", name=f"{prefix}-sg", description="bench",
                                           delete_default_rules=True, tags=tags, opts=o)
        for eth in ("IPv4", "IPv6"):
            openstack.networking.SecGroupRule(f"secgroup-egress-{eth.lower()}", security_group_id=sg.id,
                                              direction="egress", ethertype=eth, opts=o)
        for name, port, src in (("https", 443, "0.0.0.0/0"), ("ssh", 22, "10.0.0.0/8")):
            openstack.networking.SecGroupRule(f"secgroup-ingress-{name}", security_group_id=sg.id,
                                              direction="ingress", ethertype="IPv4", protocol="tcp",
                                              port_range_min=port, port_range_max=port, remote_ip_prefix=src, opts=o)
        group = openstack.compute.ServerGroup("server-group-web", name=f"{prefix}-web-group",
                                              policies="soft-anti-affinity", opts=o)
        servers = {}
        for n in (1, 2):
            port = openstack.networking.Port(f"port-web-{n}", name=f"{prefix}-web-{n}-port", network_id=net.id,
                                             admin_state_up=True, fixed_ips=[{"subnet_id": subnet.id}],
                                             security_group_ids=[sg.id], tags=tags,
                                             opts=pulumi.ResourceOptions(provider=p, depends_on=[ri]))
            server = openstack.compute.Instance(f"server-web-{n}", name=f"{prefix}-web-{n}", flavor_name="gc.small",
                                                image_name="ubuntu-22.04", networks=[{"port": port.id}],
                                                metadata={"govcloud:index": str(n)}, user_data=user_data,
                                                scheduler_hints=[{"group": group.id}], opts=o)
            vol = openstack.blockstorage.Volume(f"volume-web-{n}-data", name=f"{prefix}-web-{n}-data", size=1,
                                                volume_type="standard", opts=o)
            openstack.compute.VolumeAttach(f"attach-web-{n}-data", instance_id=server.id, volume_id=vol.id, opts=o)
            fip = openstack.networking.FloatingIp(f"floating-ip-web-{n}", pool="public",
                                                  description=f"public IP of {prefix}-web-{n}", tags=tags, opts=o)
            openstack.networking.FloatingIpAssociate(f"floating-ip-assoc-web-{n}", floating_ip=fip.address,
                                                     port_id=port.id,
                                                     opts=pulumi.ResourceOptions(provider=p, depends_on=[ri]))
            servers[f"{prefix}-web-{n}"] = {"id": server.id, "floatingIp": fip.address}
        openstack.objectstorage.Container("bucket-uploads", name=f"{prefix}-uploads",
                                          metadata={"Quota-Bytes": str(5 * 1024 ** 3)}, opts=o)
        pulumi.export("servers", servers)
        pulumi.export("networkId", net.id)

    return program


def hand_main(op: str, workdir: str) -> None:
    """One Automation API operation of the hand-written program (runs in its own process, like a script)."""
    t0 = time.monotonic()
    from pulumi import automation as auto

    from govcloud.engine import toolchain
    from govcloud.engine.command import pulumi_command

    os.environ.update(toolchain.engine_env())
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = os.environ["BENCH_PASSPHRASE"]
    wd = Path(workdir)
    (wd / "hand-ws").mkdir(exist_ok=True)
    (wd / "hand-state").mkdir(exist_ok=True)
    meta = json.loads((wd / "hand.json").read_text())
    program = hand_program(meta["prefix"], meta["userData"], meta["password"])
    stack = auto.create_or_select_stack(
        "hand", project_name="bench-hand", program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(wd / "hand-ws"), secrets_provider="passphrase", pulumi_command=pulumi_command(),
            project_settings=auto.ProjectSettings(name="bench-hand", runtime="python",
                                                  backend=auto.ProjectBackend(f"file://{wd / 'hand-state'}"))))
    t_ready = time.monotonic()
    if op in ("up", "up-events"):
        # govcloud's child passes on_event too (its progress, metering and the fault harness read the events)
        res = stack.up(on_event=(lambda event: None) if op == "up-events" else None)
        print(json.dumps({"changes": res.summary.resource_changes, "setup": t_ready - t0,
                          "engine": time.monotonic() - t_ready}))
    elif op == "destroy":
        stack.destroy()


# ---------------------------------------------------------------- the runs


def run(argv, cwd, env, check=True) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    cp = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    if check and cp.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
    return took, cp


def timings(stderr: str) -> dict[str, float]:
    m = re.search(r"^timings: (.*)$", stderr, re.M)
    return {k: float(v) for k, v in re.findall(r"([\w.]+)=([\d.]+)", m.group(1))} if m else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--before", metavar="DIR",
                    help="also run govcloud from this checkout (e.g. a git worktree of an earlier commit), "
                         "alternating with this one: a before/after of a change, side by side")
    ap.add_argument("--replace-runs", type=int, default=0, metavar="N",
                    help="after the runs: N deploys that replace one security-group rule (--replace; a small "
                         "apply, so mostly the fixed costs), alternating with --before's when given")
    ap.add_argument("--hand-events", action="store_true",
                    help="also run the hand-written program with an on_event callback (a third side)")
    ap.add_argument("--hand-env", action="append", default=[], metavar="NAME=VALUE",
                    help="also run the hand-written program with this environment variable set (a side of its "
                         "own, e.g. PULUMI_PARALLEL=64 against the CLI's default of 4 per CPU); repeatable")
    ap.add_argument("--skip-preview", action="store_true",
                    help="a govcloud side whose first deploy is `deploy --yes --skip-preview`")
    ap.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                    help="pause after every destroy before the next side's deploy")
    ap.add_argument("--timeline", action="store_true",
                    help="after the runs: when each resource of the last govcloud up started and ended "
                         "(deploy_timeline.py, from the up's events file)")
    ap.add_argument("--hand", choices=["up", "up-events", "destroy"], help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hand:
        hand_main(args.hand, args.workdir)
        return

    from govcloud.cloud.credentials import provider_config
    from govcloud.engine.command import pulumi_command
    from govcloud.config import ConfigRepo
    from govcloud.check import Workspace

    work = Path(tempfile.mkdtemp(prefix="govcloud-bench-"))
    repo = work / "repo"
    shutil.copytree(REPO / "inventories", repo / "inventories")
    (repo / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
    (repo / "svc").mkdir()
    service = f"cp-bench-{secrets.token_hex(2)}"
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = service
    manifest = repo / "svc" / "portal.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = Workspace(ConfigRepo(repo)).plan(manifest)
    user_data = plan.get("server-web-1").inputs["user_data"]
    password = provider_config(plan).password
    (work / "hand.json").write_text(json.dumps({"prefix": f"moe-dev-hand-{secrets.token_hex(2)}",
                                                "userData": user_data, "password": password}))
    os.chmod(work / "hand.json", 0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("GOVCLOUD_STATE_DIR", "GOVCLOUD_CONFIG")}
    env.update(GOVCLOUD_PASSPHRASE=PASSPHRASE, BENCH_PASSPHRASE=PASSPHRASE, GOVCLOUD_TIMINGS="1", NO_COLOR="1")
    hand = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(work), "--hand"]

    # process start-up costs that every engine child pays (outside the engine itself)
    t_imports = statistics.median(
        run([sys.executable, "-c", "import pulumi, pulumi_openstack, openstack.config, govcloud.engine"],
            REPO, env)[0] for _ in range(3))
    t_cli = statistics.median(run([str(pulumi_command().command), "version"], REPO, env)[0]
                              for _ in range(3))

    sides = ("gc_deploy", "gc_redeploy", "hand_deploy", "hand_redeploy")
    if args.hand_events:
        sides += ("hand_events_deploy", "hand_events_redeploy")
    hand_env = dict(kv.split("=", 1) for kv in args.hand_env)
    if hand_env:
        sides += ("hand_env_deploy", "hand_env_redeploy")
    if args.before:
        sides += ("before_deploy", "before_redeploy")
    if args.skip_preview:
        sides += ("skip_deploy", "skip_redeploy")
    if args.replace_runs:
        sides += ("gc_replace",) + (("before_replace",) if args.before else ())
    rows: dict[str, list[float]] = {k: [] for k in sides}
    phases: dict[str, list[dict]] = {k: [] for k in ("deploy", "redeploy") + sides[2:]}
    # the before side: the same console script, with the earlier checkout's package first on the path
    before_env = {**env, "PYTHONPATH": str(Path(args.before).resolve())} if args.before else None

    last_up: list[Path] = []  # the events file of this checkout's last first deploy (--timeline)

    def govcloud_side(side_env, deploy_row, redeploy_row, deploy_phases, redeploy_phases, first=()):
        t, cp = run([GOVCLOUD, "deploy", manifest, "--yes", *first], repo, side_env)
        rows[deploy_row].append(t)
        if deploy_row == "gc_deploy":
            last_up[:] = sorted((repo / ".govcloud" / "logs").glob("*--up--*.events.jsonl"),
                                key=lambda p: p.stat().st_mtime)[-1:]
        phases[deploy_phases].append(timings(cp.stderr))
        t, cp = run([GOVCLOUD, "deploy", manifest, "--yes"], repo, side_env)
        assert "nothing to deploy" in cp.stdout, cp.stdout
        rows[redeploy_row].append(t)
        phases[redeploy_phases].append(timings(cp.stderr))
        run([GOVCLOUD, "destroy", manifest, "--yes", "--allow-data-loss"], repo, side_env)
        time.sleep(args.settle)
    try:
        for i in range(args.runs):
            govcloud_sides = [(env, "gc_deploy", "gc_redeploy", "deploy", "redeploy")]
            if before_env is not None:  # alternating which goes first
                govcloud_sides.insert(i % 2, (before_env, "before_deploy", "before_redeploy", "before_deploy",
                                              "before_redeploy"))
            if args.skip_preview:
                govcloud_sides.insert(i % 2, (env, "skip_deploy", "skip_redeploy", "skip_deploy", "skip_redeploy",
                                              ("--skip-preview",)))
            for side in govcloud_sides:
                govcloud_side(*side)

            hand_sides = [("hand", "up", env)]
            if args.hand_events:
                hand_sides.append(("hand_events", "up-events", env))
            if hand_env:  # alternating which goes first, as the govcloud sides do
                hand_sides.insert(i % 2, ("hand_env", "up", {**env, **hand_env}))
            for side, op, side_env in hand_sides:
                t, cp = run(hand + [op], work, side_env)
                rows[f"{side}_deploy"].append(t)
                phases[f"{side}_deploy"].append(json.loads(cp.stdout.strip().splitlines()[-1]))
                t, cp = run(hand + [op], work, side_env)
                last = json.loads(cp.stdout.strip().splitlines()[-1])
                assert set(last.pop("changes")) == {"same"}, cp.stdout
                rows[f"{side}_redeploy"].append(t)
                phases[f"{side}_redeploy"].append(last)
                run(hand + ["destroy"], work, env)
                time.sleep(args.settle)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in rows.items() if v), flush=True)
        if args.timeline:
            import deploy_timeline

            last = deploy_timeline.timeline(deploy_timeline.read_events(last_up[0])) if last_up else []
            print(deploy_timeline.markdown(last) if last else "no up events file found", flush=True)
        if args.replace_runs:
            run([GOVCLOUD, "deploy", manifest, "--yes"], repo, env)
            replace = [GOVCLOUD, "deploy", manifest, "--yes", "--replace", "secgroup-egress-ipv6"]
            for i in range(args.replace_runs):
                order = [(env, "gc_replace")] + ([(before_env, "before_replace")] if before_env else [])
                for side_env, row in (order if i % 2 == 0 else order[::-1]):
                    t, cp = run(replace, repo, side_env)
                    rows[row].append(t)
                    phases[row].append(timings(cp.stderr))
            print("replace runs: " + ", ".join(f"{k} {statistics.median(rows[k]):.2f} s" for k in rows
                                               if k.endswith("_replace")), flush=True)
            run([GOVCLOUD, "destroy", manifest, "--yes", "--allow-data-loss"], repo, env)
    finally:
        run([GOVCLOUD, "destroy", manifest, "--yes", "--allow-data-loss"], repo, env, check=False)
        run(hand + ["destroy"], work, env, check=False)

    med = {k: statistics.median(v) for k, v in rows.items() if v}

    def phase_median(kind):
        keys = sorted({k for d in phases[kind] for k in d if isinstance(d[k], (int, float))})
        if not phases[kind]:
            return {}
        return {k: round(statistics.median(d.get(k, 0.0) for d in phases[kind]), 3) for k in keys}

    result = {"runs": args.runs, "medians": med, "raw": rows, "phases": {k: phase_median(k) for k in phases},
              "phasesRaw": phases,
              "imports": t_imports, "pulumiVersion": t_cli, "resources": len(plan.resources)}
    print(json.dumps(result, indent=2))
    print()
    print("| | govcloud | hand-written Pulumi program | difference |")
    print("|---|---|---|---|")
    print(f"| deploy, {len(plan.resources)} resources | {med['gc_deploy']:.1f} s | {med['hand_deploy']:.1f} s | "
          f"{med['gc_deploy'] - med['hand_deploy']:+.1f} s |")
    print(f"| redeploy, no change | {med['gc_redeploy']:.1f} s | {med['hand_redeploy']:.1f} s | "
          f"{med['gc_redeploy'] - med['hand_redeploy']:+.1f} s |")
    if args.before:
        print(f"| govcloud of {args.before}: deploy {med['before_deploy']:.1f} s, "
              f"redeploy {med['before_redeploy']:.1f} s | | | |")
    if args.skip_preview:
        print(f"| govcloud deploy --skip-preview: deploy {med['skip_deploy']:.1f} s "
              f"({med['skip_deploy'] - med['hand_deploy']:+.1f} s against the hand-written program), "
              f"redeploy {med['skip_redeploy']:.1f} s | | | |")
    if hand_env:
        print(f"| hand-written with {' '.join(args.hand_env)}: deploy {med['hand_env_deploy']:.1f} s, "
              f"redeploy {med['hand_env_redeploy']:.1f} s | | | |")
    if args.hand_events:
        print(f"| hand-written with on_event: deploy {med['hand_events_deploy']:.1f} s, "
              f"redeploy {med['hand_events_redeploy']:.1f} s | | | |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
