"""The FOCUS 1.2 mapping: columns, exact costs, invoices that add up to the statement, credits, discounts."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.inventory import Inventory, Subsidy
from govcloud.metering.focus import COLUMNS, build_focus, number, render_csv, render_parquet
from govcloud.metering.periods import Period
from govcloud.metering.statement import build_statement, parse_month, render_statement_html
from govcloud.metering.store import UsageRecord, UsageStore

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture
def store(tmp_path):
    with UsageStore(tmp_path / "usage.sqlite") as s:
        s.bulk_insert([
            UsageRecord("devcloud", "vcpu_hours", "srv-1", date(2026, 3, 2), "p1", "gov-moh", "portal", "prod",
                        "server", "moh-prod-portal-web-1", Decimal("10.5")),
            UsageRecord("devcloud", "volume_gb_hours", "vol-1", date(2026, 3, 2), "p1", "gov-moh", "portal", "prod",
                        "volume", "moh-prod-portal-web-1-data", Decimal("240")),
            UsageRecord("devcloud", "server_hours", "srv-1", date(2026, 3, 2), "p1", "gov-moh", "portal", "prod",
                        "server", "moh-prod-portal-web-1", Decimal("10.5")),  # not priced: no row
        ], datetime(2026, 3, 3, tzinfo=UTC))
        yield s


def inventory() -> Inventory:
    return Inventory(ConfigRepo(REPO))


def test_rows_carry_the_mandatory_columns_and_exact_costs_by_hand(store):
    exp = build_focus(store, inventory(), MARCH)
    usage = {r["x_Meter"]: r for r in exp.rows if r["ChargeCategory"] == "Usage"}
    assert set(usage) == {"vcpu_hours", "volume_gb_hours"}
    vcpu = usage["vcpu_hours"]
    # devcloud.yaml: vcpuHour 9000, volumeGbMonth 40000
    assert vcpu["ListUnitPrice"] == 9000 and vcpu["PricingQuantity"] == Decimal("10.5")
    assert vcpu["ListCost"] == vcpu["BilledCost"] == vcpu["EffectiveCost"] == vcpu["ContractedCost"] == 94500
    vol = usage["volume_gb_hours"]
    assert vol["PricingQuantity"] == Decimal("0.3287671233") and vol["PricingUnit"] == "GiB-Months"  # 240 / 730
    assert vol["ListCost"] == Decimal("0.3287671233") * 40000  # the product, exactly (FOCUS ListCost rule)
    assert (vcpu["BillingAccountId"], vcpu["SubAccountName"], vcpu["RegionId"]) == ("moh", "gov-moh", "devcloud")
    assert vcpu["ChargePeriodStart"] == "2026-03-02T00:00:00Z" and vcpu["BillingPeriodEnd"] == "2026-04-01T00:00:00Z"
    assert vcpu["SkuPriceId"] == "devcloud/vcpu_hours@1" and vcpu["ServiceCategory"] == "Compute"
    assert vcpu["InvoiceId"] == "moh-2026-03" and vcpu["BillingAccountName"].isascii()
    # the statement's lines are rounded to the rial; the Adjustment row makes the invoice add up to them
    inv = exp.invoices["moh-2026-03"]
    assert inv.total == 94500 + 13151  # 13150.684932 rounded half-up
    adjust = [r for r in exp.rows if r["ChargeCategory"] == "Adjustment"]
    assert len(adjust) == 1 and adjust[0]["ListCost"] == adjust[0]["BilledCost"] == inv.total - (
        94500 + Decimal("0.3287671233") * 40000)
    assert sum(r["BilledCost"] for r in exp.rows if r["InvoiceId"] == inv.id) == inv.total
    table = list(csv.reader(io.StringIO(render_csv(exp).decode())))
    assert table[0] == COLUMNS and len(table) == 1 + len(exp.rows)
    assert all(c.startswith("x_") for c in COLUMNS[COLUMNS.index("x_Service"):])


def test_numbers_and_parquet():
    assert number(Decimal("9000")) == "9000.0" and number(Decimal("0.50")) == "0.5"
    assert number(Decimal("-0.000")) == "0.0" and number(Decimal("1E-7")) == "0.0000001"
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:  # govcloud does not depend on it: a clear refusal
        with pytest.raises(InputError, match="pyarrow"):
            render_parquet(None)


def test_a_discount_and_a_credit(store, tmp_path):
    import yaml

    (tmp_path / "repo" / "inventories").mkdir(parents=True)
    (tmp_path / "repo" / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    doc = yaml.safe_load((REPO / "inventories" / "agencies.yaml").read_text())
    moh = next(a for a in doc["agencies"] if a["id"] == "moh")
    moh["subsidies"] = [{"id": "compute-20", "kind": "discount", "percent": 20, "description": "compute",
                         "meters": ["vcpu_hours"]},
                        {"id": "credit-10", "kind": "credit", "percent": 10, "description": "a credit"}]
    (tmp_path / "repo" / "inventories" / "agencies.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    inv = Inventory(ConfigRepo(tmp_path / "repo"))
    assert isinstance(inv.agency("moh").subsidies[0], Subsidy)
    exp = build_focus(store, inv, MARCH)
    vcpu = next(r for r in exp.rows if r.get("x_Meter") == "vcpu_hours")
    assert vcpu["ListCost"] == 94500 and vcpu["BilledCost"] == vcpu["EffectiveCost"] == 75600  # 20 % off
    assert vcpu["x_DiscountId"] == "compute-20"
    credit = next(r for r in exp.rows if r["ChargeCategory"] == "Credit")
    invoice = exp.invoices["moh-2026-03"]
    assert invoice.usage_total == 75600 + 13151
    assert credit["BilledCost"] == credit["ListCost"] == -Decimal(8875)  # 10 % of 88751, half-up
    assert invoice.total == 88751 - 8875 == sum(r["BilledCost"] for r in exp.rows)


def test_the_statement_is_the_invoice_of_its_focus_file(store, tmp_path):
    st = build_statement(store, inventory(), "moh", "2026-03", config=ConfigRepo(REPO))
    assert st.invoice_id == "moh-2026-03" and st.total == 94500 + 13151
    assert st.used_pct == (st.total * 100 / Decimal(2500000000)).quantize(Decimal("0.1")) and st.status == "ok"
    html = render_statement_html(st, ConfigRepo(REPO))
    assert st.focus_sha256 in html and 'dir="rtl"' in html and "وزارت بهداشت" in html
    assert parse_month("1404-12") == (Period(date(2026, 2, 20), date(2026, 3, 20)), "jalali")
    with pytest.raises(ValueError):
        parse_month("2026-13")
