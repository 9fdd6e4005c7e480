"""Make docs/catalog/*.png: the services catalog's index and one service page, Persian and English,
on a desktop and on a phone-sized viewport, as headless Chromium shows them.

    .venv/bin/python docs/make_catalog_screenshots.py        # needs Debian's chromium (apt-get install chromium)

The catalog is built from examples/ (the reference config repo's manifests) with a fixed status: the
Statistical Centre's open-data service deployed and verified, the patient portal deployed but its last
health check failed (degraded); the object store URL is the thr1 site's public one.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's govcloud
OUT = REPO / "docs" / "catalog"
NOW = dt.datetime(2026, 5, 2, 9, 30, tzinfo=dt.timezone.utc)
VIEWPORTS = {"desktop": (1280, 1500), "phone": (390, 1700)}
PAGES = {"index": "{lang}/index.html", "service": "{lang}/sci/open-data.html"}


class ExampleStatus:
    def status(self, plan):
        from govcloud.catalog.status import DeployedStatus, VerifyResult

        verify = {"sci": VerifyResult("passed", NOW - dt.timedelta(minutes=20)),
                  "moh": VerifyResult("failed", NOW - dt.timedelta(minutes=5), "web-2: port 443 refused")}
        if plan.service.agency not in verify:
            return None
        return DeployedStatus(21, NOW - dt.timedelta(days=3, hours=2), "succeeded",
                              f"https://objects.thr1.gov.example/v1/AUTH_{plan.service.project}",
                              verify[plan.service.agency])


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium is missing: apt-get install -y chromium")


def shoot(browser: str, page: Path, png: Path, size: tuple[int, int]) -> None:
    profile = tempfile.mkdtemp(prefix="govcloud-chromium-")
    try:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--hide-scrollbars", "--force-device-scale-factor=1",
                        f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    from govcloud.catalog.build import build
    from govcloud.check import Workspace
    from govcloud.config import ConfigRepo

    browser = chromium()
    site = Path(tempfile.mkdtemp(prefix="govcloud-catalog-shots-"))
    try:
        build(site, Workspace(ConfigRepo(REPO)), manifests=[REPO / "examples"], status=ExampleStatus(), now=NOW)
        OUT.mkdir(parents=True, exist_ok=True)
        for name, rel in PAGES.items():
            for lang in ("fa", "en"):
                for view, size in VIEWPORTS.items():
                    png = OUT / f"{name}-{lang}-{view}.png"
                    shoot(browser, site / rel.format(lang=lang), png, size)
                    print(f"wrote {png.relative_to(REPO)}")
    finally:
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    main()
