"""Rating: rate card x usage, in Decimal, with totals that add up exactly."""
import random
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import yaml

from govcloud.config import ConfigRepo
from govcloud.load.inventory import Inventory, RateCard
from govcloud.metering.periods import Period, hours, overlap_hours
from govcloud.metering.rating import Exchange, Rater, RatingError, format_amount, round_money
from govcloud.metering.store import UsageRecord

from ..conftest import REPO

UTC = timezone.utc
CARD = RateCard(currency="IRR", vcpu_hour=9000, ram_gb_hour=2500, volume_gb_month=40000, bucket_gb_month=15000,
                floating_ip_hour=2000)
AGENCY_OF = {"gov-moh": "moh", "gov-mefa": "mefa"}


def rate_records(records, rate_cards, agency_of, exchange=None):
    """The records through a Rater, as report.build_report drives it."""
    return Rater(rate_cards, agency_of, exchange).add(records).rate()


def rec(meter, qty, *, project="gov-moh", service="portal", env="prod", site="devcloud", day=date(2026, 3, 1),
        rid="r1"):
    return UsageRecord(site, meter, rid, day, "pid-" + project, project, service, env, "server", rid, Decimal(qty))


def test_prices_per_meter_by_hand():
    rated = rate_records([
        rec("vcpu_hours", "48"),            # 48 vCPU-h x 9000
        rec("ram_mb_hours", "98304"),       # 96 GB-h x 2500
        rec("volume_gb_hours", "36500"),    # 50 GB-months x 40000
        rec("bucket_gb_hours", "730"),      # 1 GB-month x 15000
        rec("floating_ip_hours", "24"),     # 24 h x 2000
        rec("server_hours", "24"), rec("disk_gb_hours", "240"),  # reported, not priced
    ], {"devcloud": CARD}, AGENCY_OF)
    amounts = {l.meter: l.amount for l in rated.lines}
    assert amounts == {"vcpu_hours": 432000, "ram_mb_hours": 240000, "volume_gb_hours": 2000000,
                       "bucket_gb_hours": 15000, "floating_ip_hours": 48000}
    assert rated.total == 432000 + 240000 + 2000000 + 15000 + 48000
    assert all(isinstance(l.amount, Decimal) for l in rated.lines)
    assert {k[4] for k in rated.unpriced} == {"server_hours", "disk_gb_hours"}
    assert rated.currency == "IRR"


def test_gb_month_is_730_gb_hours_so_a_31_day_month_costs_more_than_the_monthly_price():
    # a 50 GB volume alive all of March (744 h): 50 * 744 / 730 GB-months
    rated = rate_records([rec("volume_gb_hours", 50 * 744)], {"devcloud": CARD}, AGENCY_OF)
    line = rated.lines[0]
    assert line.priced_quantity == Decimal("50.958904")  # shown to 6 places
    exact = Decimal(50 * 744) / 730 * 40000  # 2,038,356.164...
    assert line.amount == Decimal(2038356) == round_money(exact, "IRR")


def test_rounding_is_half_up_per_line_and_totals_are_sums_of_rounded_lines():
    # 0.0005 vCPU-h x 9000 = 4.5 -> 5; three such lines in different services -> 15 (not round(13.5) = 14)
    recs = [rec("vcpu_hours", "0.000500", service=s) for s in ("a", "b", "c")]
    rated = rate_records(recs, {"devcloud": CARD}, AGENCY_OF)
    assert [l.amount for l in rated.lines] == [5, 5, 5]
    assert rated.total == 15


def test_quantities_are_summed_before_pricing_in_any_order():
    rng = random.Random(3)
    recs = [rec(rng.choice(["vcpu_hours", "ram_mb_hours", "volume_gb_hours", "bucket_gb_hours",
                            "floating_ip_hours"]),
                f"{rng.randrange(1, 10**9) / 10**6:.6f}", project=rng.choice(list(AGENCY_OF)),
                service=rng.choice("xyz"), env=rng.choice(["prod", "dev"]), day=date(2026, 3, rng.randrange(1, 29)),
                rid=str(rng.randrange(50)))
            for _ in range(5000)]
    a = rate_records(recs, {"devcloud": CARD}, AGENCY_OF)
    rng.shuffle(recs)
    b = rate_records(recs, {"devcloud": CARD}, AGENCY_OF)
    assert a.lines == b.lines and a.total == b.total
    # per-agency subtotals add up to the total exactly
    per_agency = {}
    for l in a.lines:
        per_agency[l.agency] = per_agency.get(l.agency, 0) + l.amount
    assert sum(per_agency.values()) == a.total
    # the daily trend (unrounded) agrees with the lines to within the rounding of each line
    daily = sum(sum(v.values()) for v in a.daily.values())
    assert abs(daily - a.total) <= Decimal("0.5") * len(a.lines)


def test_decimal_edge_cases_no_float_drift():
    # 0.1 + 0.2 style quantities: exact in Decimal
    recs = [rec("vcpu_hours", "0.100000"), rec("vcpu_hours", "0.200000", rid="r2")]
    rated = rate_records(recs, {"devcloud": CARD}, AGENCY_OF)
    assert rated.lines[0].quantity == Decimal("0.3") and rated.lines[0].amount == 2700
    # a huge quantity keeps every digit (1e12 RAM MB-hours)
    big = rate_records([rec("ram_mb_hours", "1000000000000.000001")], {"devcloud": CARD}, AGENCY_OF)
    assert big.lines[0].amount == round_money(Decimal("1000000000000.000001") / 1024 * 2500, "IRR")
    assert big.lines[0].amount == Decimal("2441406250000")
    # zero-priced meters still make (zero) lines
    free = CARD.model_copy(update={"floating_ip_hour": Decimal(0)})
    z = rate_records([rec("floating_ip_hours", "10")], {"devcloud": free}, AGENCY_OF)
    assert z.lines[0].amount == 0 and z.total == 0


def test_projects_outside_the_registry_are_kept_apart():
    rated = rate_records([rec("vcpu_hours", "1", project="demo")], {"devcloud": CARD}, AGENCY_OF)
    assert rated.lines[0].agency == "(project demo)"


def test_sites_in_different_currencies_cannot_be_added():
    usd = CARD.model_copy(update={"currency": "USD"})
    with pytest.raises(RatingError, match="different currencies"):
        rate_records([rec("vcpu_hours", "1"), rec("vcpu_hours", "1", site="abroad")],
                     {"devcloud": CARD, "abroad": usd}, AGENCY_OF)
    with pytest.raises(RatingError, match="no rate card"):
        rate_records([rec("vcpu_hours", "1", site="nowhere")], {"devcloud": CARD}, AGENCY_OF)


def test_second_currency_line_by_line():
    ex = Exchange.parse("eur=0.0000175")
    assert ex.currency == "EUR"
    recs = [rec("vcpu_hours", "1000", service=s) for s in "abc"]
    rated = rate_records(recs, {"devcloud": CARD}, AGENCY_OF, ex)
    assert [l.amount2 for l in rated.lines] == [Decimal("157.50")] * 3  # 9,000,000 x 0.0000175
    assert rated.total2 == sum(l.amount2 for l in rated.lines) == Decimal("472.50")
    for bad in ("EUR", "EURO=1", "EUR=-1", "EUR=x", "EUR=0"):
        with pytest.raises(ValueError):
            Exchange.parse(bad)


def test_formatting_thousands_and_minor_units():
    assert format_amount(Decimal("1234567"), "IRR") == "1,234,567"
    assert format_amount(Decimal("1234.5"), "EUR") == "1,234.50"
    assert round_money(Decimal("2.5"), "IRR") == 3 and round_money(Decimal("0.125"), "USD") == Decimal("0.13")


def test_deleted_resource_alive_part_of_a_period_crossing_a_month_end():
    created = datetime(2026, 3, 30, 18, 0, tzinfo=UTC)
    deleted = datetime(2026, 4, 1, 6, 30, tzinfo=UTC)
    per_day = {d: overlap_hours(created, deleted, d) for d in Period(date(2026, 3, 29), date(2026, 4, 2)).days()}
    assert per_day == {date(2026, 3, 29): 0, date(2026, 3, 30): 6, date(2026, 3, 31): 24,
                       date(2026, 4, 1): Decimal("6.5"), date(2026, 4, 2): 0}
    # rate a 100 GB volume over that life; the March report and the April report add up to the whole
    recs = [rec("volume_gb_hours", 100 * h, day=d, rid="vol") for d, h in per_day.items() if h]
    whole = rate_records(recs, {"devcloud": CARD}, AGENCY_OF)
    march = rate_records([r for r in recs if r.day.month == 3], {"devcloud": CARD}, AGENCY_OF)
    april = rate_records([r for r in recs if r.day.month == 4], {"devcloud": CARD}, AGENCY_OF)
    assert whole.lines[0].quantity == 100 * Decimal("36.5")
    assert march.lines[0].quantity + april.lines[0].quantity == whole.lines[0].quantity
    # each report rounds its own lines: the two months differ from the whole by at most one rial
    assert abs(march.total + april.total - whole.total) <= 1
    assert march.total == round_money(Decimal(3000) / 730 * 40000, "IRR")


def test_hours_are_exact_micro_hours():
    from datetime import timedelta

    assert hours(timedelta(minutes=1)) == Decimal("0.016667")
    assert hours(timedelta(hours=730)) == 730
    assert overlap_hours(None, None, date(2026, 3, 1)) == 24


def test_devcloud_rate_card_by_hand():
    rc = yaml.safe_load((REPO / "inventories" / "sites" / "devcloud.yaml").read_text())["rateCard"]
    site = Inventory(ConfigRepo(None)).site("devcloud")
    # one gc.small server (1 vCPU, 1024 MB) for 10 h and a 10 GB volume for 73 h
    recs = [rec("vcpu_hours", "10"), rec("ram_mb_hours", 10 * 1024), rec("volume_gb_hours", 730)]
    rated = rate_records(recs, {"devcloud": site.rate_card}, AGENCY_OF)
    assert rated.total == 10 * rc["vcpuHour"] + 10 * rc["ramGbHour"] + rc["volumeGbMonth"]


def test_rater_streams():
    r = Rater({"devcloud": CARD}, AGENCY_OF)
    r.add(iter([rec("vcpu_hours", "1")])).add(iter([rec("vcpu_hours", "2")]))
    rated = r.rate()
    assert rated.records == 2 and rated.total == 27000
