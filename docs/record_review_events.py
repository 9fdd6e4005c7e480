"""Record the engine event logs under tests/fixtures/events/ from the dev cloud (a real Pulumi preview).

Usage (needs `scripts/devcloud status` = UP and the toolchain):

    .venv/bin/python docs/record_review_events.py [--keep]

It makes a temporary config repo, deploys the citizen portal example under its
own service name (`citizen-portal-review`, so it never meets another deploy of
the example), previews a series of edits of the manifest against that stack,
saves each preview's raw events (exactly what the engine emitted, as
govcloud.engine writes them to <state>/logs/*.events.jsonl) together with the
manifest previewed, and destroys the stack again (unless --keep).

Every fixture is checked for secrets before it is written: the provider
resource's inputs (credentials) are replaced by placeholders, and any secret
value the engine printed in clear is replaced by a fake one.
"""
from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "devcloud" / "citizen-portal.yaml"
OUT = REPO / "tests" / "fixtures" / "events"
SERVICE = "citizen-portal-review"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
FAKE_SECRET = "fixture-secret-not-real"


def base() -> dict:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = SERVICE
    return doc


def edit(fn):
    def make():
        doc = base()
        fn(doc)
        return doc
    return make


def _size_medium(d):
    d["spec"]["servers"][0]["size"] = "medium"


def _ssh_port(d):
    d["spec"]["network"]["ingress"][1]["port"] = 2222


def _encrypted_volume(d):
    d["spec"]["servers"][0]["volumes"][0]["type"] = "encrypted"


def _bucket_quota(d):
    d["spec"]["buckets"][0]["quotaGb"] = 20


def _shrink(d):
    d["spec"]["servers"][0]["count"] = 1
    d["spec"]["buckets"] = []


def _image(d):
    d["spec"]["servers"][0]["image"] = "debian-12"


def _multi(d):
    s = d["spec"]["servers"][0]
    s["size"] = "medium"
    s["count"] = 3
    s["volumes"][0]["sizeGb"] = 2
    d["spec"]["network"]["ingress"][1]["port"] = 2222
    d["spec"]["network"]["ingress"].append({"name": "http", "port": 80, "protocol": "tcp", "from": "0.0.0.0/0"})
    d["spec"]["buckets"] = []


SCENARIOS = {
    "update-size": ("grow the web servers from small to medium (update in place)", edit(_size_medium)),
    "replace-rule": ("move ssh from port 22 to 2222 (the rule is replaced)", edit(_ssh_port)),
    "retype-volume": ("put the data volumes on the encrypted type (a retype: updated in place)",
                      edit(_encrypted_volume)),
    "bucket-quota": ("raise the uploads bucket quota from 5 to 20 GB (update in place)", edit(_bucket_quota)),
    "delete": ("one web server instead of two, no bucket (deletes, data loss)", edit(_shrink)),
    "image": ("rebuild the web servers on debian-12 (root disks lost)", edit(_image)),
    "multi": ("a mixed change: bigger servers, a third one, bigger volumes, ssh moved, http opened, "
              "bucket dropped", edit(_multi)),
}


def sanitize(value, provider: bool = False):
    """Drop credentials: secrets the engine printed in clear and the provider's inputs."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY):
            out = dict(value)
            if "plaintext" in out:
                out["plaintext"] = json.dumps(FAKE_SECRET)
            return out
        return {k: sanitize(v, provider) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v, provider) for v in value]
    return value


def scrub_event(e: dict) -> dict:
    e = copy.deepcopy(e)
    for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
        md = (e.get(kind) or {}).get("metadata")
        if not md:
            continue
        if str(md.get("type", "")).startswith("pulumi:providers:"):
            for side in ("old", "new"):
                st = md.get(side)
                if isinstance(st, dict):
                    for part in ("inputs", "outputs"):
                        props = st.get(part)
                        if isinstance(props, dict):
                            for k in list(props):
                                if k in ("password", "token", "applicationCredentialSecret"):
                                    props[k] = {SECRET_SIG_KEY: "1b47061264138c4ac30d75fd1eb44270",
                                                "plaintext": json.dumps(FAKE_SECRET)}
                                elif k in ("authUrl",):
                                    props[k] = "http://127.0.0.1:5000/v3"
    return sanitize(e)


def dump_fixture(doc: dict) -> str:
    """Readable and diffable: the header indented, one event per line."""
    head = {k: v for k, v in doc.items() if k != "events"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    events = ",\n".join("  " + json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in doc["events"])
    return text + ',\n "events": [\n' + events + "\n ]\n}\n"


def record(tag: str, description: str, doc: dict, repo: Path, op: str = "preview") -> Path:
    from govcloud.engine.runner import run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import locate, unprotect
    from govcloud.settings import read_passphrase
    from govcloud.config import ConfigRepo
    from govcloud.check import Workspace

    manifest = repo / "services" / "portal.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    ws = Workspace(ConfigRepo(repo))
    plan = ws.plan(manifest)
    # as `govcloud diff` / `deploy` run them: volumes and buckets protected. The engine refuses to even
    # preview the deletion of a protected resource: that failed preview is kept as <tag>-protected.json and
    # the change is previewed again as `deploy --allow-data-loss` does
    allow = False
    res = run_operation(op, plan, ws.config, message=f"govcloud {op} (review fixtures)")
    if not res.ok and op == "preview" and "protected" in (res.error or ""):
        save(f"{tag}-protected", description + " - refused by the engine: protected resources", doc, op, res,
             False, expect_ok=False)
        allow = True
        cli = PulumiCli(locate(plan, ws.config), read_passphrase())
        unprotect(cli)  # what deploy --allow-data-loss does before it applies
        res = run_operation(op, plan, ws.config, allow_data_loss=True,
                                   message=f"govcloud {op} (review fixtures)")
        # protect them again: deploy the unchanged baseline
        manifest.write_text(yaml.safe_dump(base(), sort_keys=False, allow_unicode=True))
        again = run_operation("up", Workspace(ConfigRepo(repo)).plan(manifest), ws.config)
        if not again.ok:
            raise SystemExit(f"re-protecting failed: {again.error}")
    return save(tag, description, doc, op, res, allow)


def save(tag: str, description: str, doc: dict, op: str, res, allow: bool, expect_ok: bool = True) -> Path:
    if res.ok != expect_ok:
        raise SystemExit(f"{tag}: {op} {'failed' if expect_ok else 'succeeded'}: {res.error}")
    events_file = Path(res.log_file).with_suffix(".events.jsonl")
    events = [scrub_event(json.loads(line)) for line in events_file.read_text().splitlines() if line.strip()]
    from govcloud.engine import toolchain

    info = toolchain.find_pulumi()
    out = {
        "description": description,
        "recorded": {"operation": op, "allowDataLoss": allow, "ok": res.ok, "engine": f"pulumi {getattr(info, 'version', '?')}",
                     "provider": "pulumi-openstack 5.5.3", "cloud": "devcloud (scripts/devcloud)",
                     "baseline": "examples/devcloud/citizen-portal.yaml deployed as " + SERVICE},
        "manifest": doc,
        "events": events,
    }
    path = OUT / f"{tag}.json"
    path.write_text(dump_fixture(out))
    print(f"wrote {path.relative_to(REPO)}: {len(events)} events, {res.counts()}", file=sys.stderr)
    return path


def main() -> int:
    keep = "--keep" in sys.argv
    os.environ.pop("GOVCLOUD_STATE_DIR", None)
    os.environ.pop("GOVCLOUD_CONFIG", None)
    os.environ["GOVCLOUD_PASSPHRASE"] = "fixtures-" + secrets.token_hex(8)
    OUT.mkdir(parents=True, exist_ok=True)
    repo = Path(tempfile.mkdtemp(prefix="govcloud-review-"))
    shutil.copytree(REPO / "inventories", repo / "inventories")
    (repo / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
    (repo / "services").mkdir()
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    try:
        record("create", "the citizen portal on an empty stack (everything is created)", base(), repo)
        record("deploy-up", "the deploy of the citizen portal (the engine's `up` events)", base(), repo, op="up")
        for tag, (description, make) in SCENARIOS.items():
            if only and tag not in only:
                continue
            record(tag, description, make(), repo)
    finally:
        if keep:
            print(f"kept the stack; config repo {repo}", file=sys.stderr)
        else:
            from govcloud.engine.runner import run_operation
            from govcloud.engine.command import PulumiCli
            from govcloud.engine.stack import locate, unprotect
            from govcloud.settings import read_passphrase
            from govcloud.config import ConfigRepo
            from govcloud.check import Workspace

            (repo / "services" / "portal.yaml").write_text(yaml.safe_dump(base(), sort_keys=False))
            ws = Workspace(ConfigRepo(repo))
            plan = ws.plan(repo / "services" / "portal.yaml")
            cli = PulumiCli(locate(plan, ws.config), read_passphrase())
            if cli.exists():
                unprotect(cli)
                res = run_operation("destroy", plan, ws.config, allow_data_loss=True)
                print(f"destroy: {'ok' if res.ok else res.error}", file=sys.stderr)
            shutil.rmtree(repo, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
