"""Reports from the usage store: budgets, estimates, formats, the CLI."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner

from govcloud.cli import cli
from govcloud.config import ConfigRepo
from govcloud.load.inventory import Inventory
from govcloud.metering.periods import Period
from govcloud.metering.report import build_report
from govcloud.metering.store import UsageRecord, UsageStore
from govcloud.check import Workspace

from ..conftest import EXAMPLES, REPO

UTC = timezone.utc


def rec(meter, qty, day, *, project="gov-moh", service="patient-portal", env="prod", site="thr1", rid="r"):
    return UsageRecord(site, meter, rid, day, "id-" + project, project, service, env, "server", rid, Decimal(qty))


def month(first: date, last: date, **kw):
    d = first
    while d <= last:
        yield from (rec("vcpu_hours", "48", d, rid=f"s-{d}", **kw),)
        d = date.fromordinal(d.toordinal() + 1)


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    monkeypatch.chdir(REPO)  # this checkout is a config repo
    return tmp_path / "state"


@pytest.fixture
def filled(state):
    """March 2026 at thr1: moh 2 vCPU all month (patient-portal), intax over budget, sabt at 93 %, and one
    unmanaged moh server."""
    with UsageStore(state / "usage.sqlite") as s:
        recs = list(month(date(2026, 3, 1), date(2026, 3, 31)))
        recs += [rec("vcpu_hours", "9000", date(2026, 3, d), project="gov-intax", service="batch", rid=f"i{d}")
                 for d in range(1, 32)]
        recs += [rec("vcpu_hours", "1500", date(2026, 3, d), project="gov-sabt", service="registry", rid=f"s{d}")
                 for d in range(1, 32)]
        recs += [rec("vcpu_hours", "1", date(2026, 3, 5), service="(unmanaged)", env="", rid="u")]
        recs += [rec("vcpu_hours", "24", date(2026, 4, 1), rid="april")]
        s.bulk_insert(recs, datetime(2026, 4, 2, tzinfo=UTC))
    return state


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_budgets_flag_80_and_100_percent(filled):
    inv = Inventory(ConfigRepo(REPO))
    with UsageStore(filled / "usage.sqlite") as s:
        rep = build_report(s, inv, Period(date(2026, 3, 1), date(2026, 3, 31)))
    a = {r.id: r for r in rep.agencies}
    # intax: 9000 vCPU-h x 12000 x 31 days = 3,348,000,000 of a 3,000,000,000 budget
    assert a["intax"].amount == 9000 * 12000 * 31
    assert a["intax"].budget == 3_000_000_000 and a["intax"].status == "over"
    assert a["intax"].used_pct == Decimal("111.6")
    assert a["moh"].status == "ok" and a["moh"].amount == 48 * 31 * 12000 + 12000
    # sabt: 1500 x 12000 x 31 = 558,000,000 of 600,000,000 -> 93 %
    assert a["sabt"].status == "warning" and a["sabt"].used_pct == Decimal("93.0")
    assert rep.total == a["intax"].amount + a["moh"].amount + a["sabt"].amount
    assert sum(s.amount for s in rep.services) == rep.total


def test_budget_warning_and_prorated_budget(filled):
    inv = Inventory(ConfigRepo(REPO))
    with UsageStore(filled / "usage.sqlite") as s:
        # sabt in the first 10 days of March: 10/31 of a monthly budget, still 93 % of it
        rep = build_report(s, inv, Period(date(2026, 3, 1), date(2026, 3, 10)), agency="sabt")
        a = rep.agencies[0]
        assert a.budget == (Decimal(600_000_000) * 10 / 31).quantize(Decimal(1))
        assert a.amount == 1500 * 12000 * 10
        assert a.status == "warning" and a.used_pct == Decimal("93.0")
        # an agency with no usage in the period is still listed when asked for
        rep = build_report(s, inv, Period(date(2026, 3, 1), date(2026, 3, 10)), agency="mcth")
        assert [(r.id, r.amount, r.status) for r in rep.agencies] == [("mcth", 0, "ok")]
        # a period crossing the month end gets a share of each month's budget
        rep = build_report(s, inv, Period(date(2026, 3, 17), date(2026, 4, 15)), agency="moh")
        assert rep.agencies[0].budget == (Decimal(2_500_000_000) * (Decimal(15) / 31 + Decimal(15) / 30)
                                          ).quantize(Decimal(1))
        assert {l.agency for l in rep.lines} == {"moh"}


def test_estimate_vs_actual_from_manifests(filled):
    inv = Inventory(ConfigRepo(REPO))
    _, est = Workspace(ConfigRepo(REPO)).cost(EXAMPLES / "moh" / "patient-portal.yaml")
    with UsageStore(filled / "usage.sqlite") as s:
        rep = build_report(s, inv, Period(date(2026, 3, 1), date(2026, 3, 31)), manifests=EXAMPLES / "moh",
                           config=ConfigRepo(REPO))
    row = next(r for r in rep.services if r.service == "patient-portal")
    assert row.estimate == (est.total * 744 / 730).quantize(Decimal(1))
    assert row.delta_pct == ((row.amount - row.estimate) * 100 / row.estimate).quantize(Decimal("0.1"))
    db = next(r for r in rep.services if r.service == "health-records-db")  # estimated, nothing metered
    assert db.amount == 0 and db.estimate > 0


def test_cli_json_csv_text_agree(filled):
    args = ["usage", "report", "--from", "2026-03-01", "--to", "2026-03-31"]
    data = json.loads(run(*args, "--format", "json").output)
    assert data["kind"] == "UsageReport" and data["currency"] == "IRR"
    assert Decimal(data["total"]) == sum(Decimal(l["amount"]) for l in data["lines"])
    assert Decimal(data["total"]) == sum(Decimal(a["amount"]) for a in data["agencies"])
    assert {a["agency"]: a["budgetStatus"] for a in data["agencies"]} == {"intax": "over", "moh": "ok",
                                                                         "sabt": "warning"}
    rows = list(csv.DictReader(io.StringIO(run(*args, "--format", "csv").output)))
    assert rows[-1]["agency"] == "TOTAL" and rows[-1]["amount"] == data["total"]
    assert sum(Decimal(r["amount"]) for r in rows[:-1]) == Decimal(data["total"])
    assert rows[0]["agency_fa"]  # Persian names travel in the CSV
    text = run(*args).output
    assert "OVER BUDGET" in text and f"{Decimal(data['total']):,}" in text


def test_cli_jalali_calendar_and_solar_hijri_dates(filled):
    out = run("usage", "report", "--from", "1404-12-10", "--to", "1405-01-11", "--calendar", "jalali",
              "--format", "json").output
    data = json.loads(out)
    assert data["period"]["from"] == "2026-03-01" and data["period"]["to"] == "2026-03-31"
    assert data["period"]["fromLocal"] == "1404-12-10" and data["daily"][0]["dayLocal"] == "1404-12-10"
    # Jalali budget months: 20 of Esfand's 29 days + 11 of Farvardin's 31
    intax = next(a for a in data["agencies"] if a["agency"] == "intax")
    assert Decimal(intax["budget"]) == (Decimal(3_000_000_000) * (Decimal(20) / 29 + Decimal(11) / 31)
                                        ).quantize(Decimal(1))


def test_cli_exchange_rate(filled):
    data = json.loads(run("usage", "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json",
                          "--exchange", "EUR=0.0000175").output)
    assert data["exchange"] == {"currency": "EUR", "rate": "0.0000175"}
    assert Decimal(data["total2"]) == sum(Decimal(l["amount2"]) for l in data["lines"])


def test_cli_html_report_is_self_contained_with_rtl_and_svg(filled, tmp_path):
    out = tmp_path / "r.html"
    r = run("usage", "report", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "html", "--out", str(out),
            "--calendar", "jalali", "--manifests", str(EXAMPLES))
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") == 3
    assert 'dir="rtl"' in html and "سازمان امور مالیاتی کشور" in html
    assert 'direction="rtl"' in html  # Persian labels in the charts
    assert "Vazirmatn" in html and "Noto Sans Arabic" in html
    assert "1404-12-10" in html and "اسفند" in html  # Solar Hijri period
    assert "over budget" in html
    assert "Estimate for the period" in html
    for svg in html.split("<svg")[1:]:  # each chart is well-formed XML
        ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_cli_errors_have_exit_codes_and_no_traceback(state):
    r = CliRunner().invoke(cli, ["usage", "report", "--from", "2026-02-30", "--to", "2026-03-01"])
    assert r.exit_code == 2 and "not a valid date" in r.output
    r = CliRunner().invoke(cli, ["usage", "report", "--from", "2026-03-02", "--to", "2026-03-01"])
    assert r.exit_code == 2 and "ends" in r.output
    r = CliRunner().invoke(cli, ["usage", "report", "--from", "2026-03-01", "--to", "2026-03-01", "--agency", "mho"])
    assert r.exit_code == 1 and "did you mean 'moh'" in r.output
    r = CliRunner().invoke(cli, ["usage", "report", "--from", "2026-03-01", "--to", "2026-03-01", "--exchange", "x"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["usage", "collect", "--site", "thr9", "--from", "today", "--to", "today"])
    assert r.exit_code == 1 and "did you mean 'thr1'" in r.output


def test_empty_store_reports_nothing_without_failing(state):
    r = run("usage", "report", "--from", "2026-03-01", "--to", "2026-03-31")
    assert r.exit_code == 0 and "no usage recorded" in r.output


def test_collect_from_an_unreachable_cloud_exits_3(tmp_path, state):
    site = (REPO / "inventories" / "sites" / "devcloud.yaml").read_text().replace("name: devcloud", "name: nowhere") \
        .replace("cloud: devcloud ", "cloud: no-such-cloud ")
    (tmp_path / "repo" / "inventories" / "sites").mkdir(parents=True)
    (tmp_path / "repo" / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "repo" / "inventories" / "sites" / "nowhere.yaml").write_text(site)
    proc = subprocess.run([sys.executable, "-m", "govcloud", "usage", "collect", "--site", "nowhere",
                           "--from", "today", "--to", "today"], capture_output=True, text=True,
                          cwd=tmp_path / "repo", timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "cannot connect to cloud 'no-such-cloud'" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_usage_module_imports_only_click_and_stdlib():
    code = ("import sys; import govcloud.cli.usage; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('openstack', 'jinja2', 'rich', 'pydantic', 'yaml')"
            " or m.startswith('govcloud.metering')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
