"""The services catalog end to end on the dev cloud: deploy a public service with the real CLI, upload its
dataset to its public bucket through Swift, build the catalog from the real stack state and probe it."""
from __future__ import annotations

import http.server
import os
import json
import secrets
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

from stackrepo import PASSPHRASE, REPO, preconditions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
PROJECT = "gov-sci"
CSV = b"province,population\nTehran,14000000\nIsfahan,5300000\n"


def manifest(name: str, environment: str, cidr: str, api_url: str) -> dict:
    return {
        "apiVersion": "govcloud/v1", "kind": "Service",
        "metadata": {"name": name, "agency": "sci", "environment": environment,
                     "owner": "data-platform@sci.gov.example", "costCenter": "SCI-OD-077", "classification": "public"},
        "spec": {
            "site": "devcloud", "network": {"cidr": cidr},
            "buckets": [{"name": "files", "public": True, "quotaGb": 1}],
            "publish": {
                "title": {"fa": "آزمون داده‌های باز", "en": "Open data e2e"},
                "description": {"fa": "شرح", "en": "A public service of the catalog's end-to-end test."},
                "audience": ["businesses"], "sla": "bronze",
                "endpoints": [{"name": "api", "url": api_url, "kind": "rest", "version": "1",
                               "openapi": "../api.openapi.json"}],
                "openData": [{"name": "provinces", "format": "csv", "license": "CC-BY-4.0",
                              "title": {"fa": "استان‌ها", "en": "Provinces"},
                              "description": {"fa": "جمعیت استان‌ها", "en": "Population by province"},
                              "updateFrequency": "annual", "bucket": "files", "object": "provinces.csv"}],
            },
        },
    }


@pytest.fixture(scope="module")
def api_server():
    """The service's API, on loopback: the endpoint `--probe` requests."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b'{"datasets": ["provinces"]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


@pytest.fixture(scope="module")
def conn():
    preconditions()
    from govcloud.cloud.credentials import connect

    return connect("devcloud", PROJECT, "RegionOne", api_timeout=60)


class CatalogRepo:
    def __init__(self, root: Path, api_url: str):
        tag = secrets.token_hex(2)
        self.root = root
        self.live, self.planned = f"opendata-{tag}", f"upcoming-{tag}"
        self.stack = f"{self.live}-prod"
        self.container = f"sci-prod-{self.live}-files"
        shutil.copytree(REPO / "inventories", root / "inventories")
        (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
        (root / "manifests").mkdir()
        (root / "api.openapi.json").write_text(json.dumps({
            "openapi": "3.0.3", "info": {"title": "e2e", "version": "1"},
            "paths": {"/datasets": {"get": {"operationId": "listDatasets", "summary": "the datasets",
                                            "responses": {"200": {"description": "ok"}}}}}}))
        self.manifest = root / "manifests" / "live.yaml"
        self.manifest.write_text(yaml.safe_dump(manifest(self.live, "prod", "10.97.10.0/24", api_url),
                                                allow_unicode=True, sort_keys=False))
        (root / "manifests" / "planned.yaml").write_text(yaml.safe_dump(
            manifest(self.planned, "staging", "10.97.11.0/24", api_url), allow_unicode=True, sort_keys=False))

    def run(self, *args, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GOVCLOUD_STATE_DIR", "GOVCLOUD_CONFIG", "GOVCLOUD_PASSPHRASE_FILE")}
        # this checkout's govcloud, whichever one the venv's console script belongs to
        env.update(GOVCLOUD_PASSPHRASE=PASSPHRASE, NO_COLOR="1", PYTHONPATH=str(REPO))
        return subprocess.run([sys.executable, "-m", "govcloud", *map(str, args)], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, conn, api_server):
    r = CatalogRepo(tmp_path_factory.mktemp("govcloud-catalog-e2e"), api_server)
    yield r
    try:  # the shared dev cloud stays clean: the object first (Swift keeps a container that holds one)
        conn.object_store.delete_object("provinces.csv", container=r.container, ignore_missing=True)
    except Exception:  # noqa: BLE001 - the container may never have been made
        pass
    r.run("destroy", r.manifest, "--yes", "--confirm", r.stack, "--allow-data-loss")


def test_deployed_public_service_is_available_with_its_real_download_url(repo, conn, tmp_path):
    deployed = repo.run("deploy", repo.manifest, "--yes")
    assert deployed.returncode == 0, deployed.stderr
    conn.object_store.upload_object(container=repo.container, name="provinces.csv", data=CSV,
                                    content_type="text/csv")
    out = repo.root / "site"
    built = repo.run("catalog", "build", out)
    assert built.returncode == 0, built.stderr
    assert "1 available, 0 degraded, 1 planned" in built.stdout
    data = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    services = {s["name"]: s for s in data["services"]}
    live, planned = services[repo.live], services[repo.planned]
    assert live["status"] == "available" and live["lastDeployed"] and live["lastVerify"] is None
    assert planned["status"] == "planned" and planned["environment"] == "staging"
    store = conn.object_store.get_endpoint().rstrip("/")
    url = f"{store}/{repo.container}/provinces.csv"
    assert url.startswith("http://127.0.0.1:") and live["datasets"][0]["downloadUrl"] == url
    assert planned["datasets"][0]["downloadUrl"] is None
    # the URL really serves the file to anyone (a public bucket: no token)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == CSV
    page = (out / "en" / "sci" / f"{repo.live}.html").read_text(encoding="utf-8")
    assert f'href="{url}"' in page and "Available" in page
    assert "Planned" in (out / "en" / "sci" / f"{repo.planned}.html").read_text(encoding="utf-8")

    checked = repo.run("catalog", "check", out, "--probe", "--timeout", "20")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok   {url}: HTTP 200, {len(CSV)} bytes read" in checked.stdout
    assert "/api: HTTP 200" in checked.stdout and "0 errors" in checked.stdout

    # the file gone from the bucket: the probe sees it and the check fails, at the manifest's dataset line
    conn.object_store.delete_object("provinces.csv", container=repo.container)
    failed = repo.run("catalog", "check", out, "--probe")
    assert failed.returncode == 1
    assert "manifests/live.yaml:" in failed.stderr and "HTTP 404" in failed.stderr
