"""Rate cards with validity periods, the version on every charge line, discounts, and the re-pricing guard."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from govcloud.load.inventory import RateCard, Site, Subsidy
from govcloud.metering.ratecards import RateSchedule, card_digest, changed_cards
from govcloud.metering.rating import Rater, RatingError
from govcloud.metering.store import UsageRecord

PRICES = dict(ram_gb_hour=2500, volume_gb_month=40000, bucket_gb_month=15000, floating_ip_hour=2000)
OLD = RateCard(version="1404", vcpu_hour=9000, **PRICES)
NEW = RateCard(version="1405", valid_from=date(2026, 3, 21), vcpu_hour=10000, **PRICES)
SITE = dict(name="s", title={"fa": "س", "en": "S"}, cloud="c", region="r", residency="domestic",
            external_network="public", sizes={"small": {"flavor": "f", "vcpus": 1, "ram_mb": 1024, "disk_gb": 10}},
            images={"u": {"image": "u", "os": "ubuntu"}}, volume_types={"standard": {"name": "standard"}})


def rate_records(records, rate_cards, agency_of, exchange=None, discounts=None):
    """Price records the way the report does: one Rater, every record added, then rated."""
    return Rater(rate_cards, agency_of, exchange, dict(discounts or {})).add(records).rate()


def rec(day: date, meter: str, qty: str, project: str = "gov-moh") -> UsageRecord:
    return UsageRecord("s", meter, "srv-1", day, "p", project, "portal", "prod", "server", "srv-1", Decimal(qty))


def test_each_day_is_priced_by_the_card_in_force_and_lines_name_the_version():
    schedule = RateSchedule("s", [NEW, OLD])  # any order
    assert schedule.on(date(2026, 3, 20)).version == "1404" and schedule.on(date(2026, 3, 21)).version == "1405"
    assert schedule.cards[0].valid_to == date(2026, 3, 20) and schedule.cards[1].valid_to is None
    # 10 vCPU-hours on each side of the change: 10 x 9000 + 10 x 10000, each part at its own price
    rated = rate_records([rec(date(2026, 3, 20), "vcpu_hours", "4"), rec(date(2026, 3, 19), "vcpu_hours", "6"),
                          rec(date(2026, 3, 21), "vcpu_hours", "10")], {"s": schedule}, {"gov-moh": "moh"})
    by_version = {l.rate_version: l for l in rated.lines}
    assert set(by_version) == {"1404", "1405"}
    assert by_version["1404"].amount == 90_000 and by_version["1404"].unit_price == 9000
    assert by_version["1405"].amount == 100_000 and by_version["1405"].unit_price == 10000
    assert rated.total == 190_000
    assert sum(rated.daily[date(2026, 3, 21)].values()) == 100_000  # the daily trend uses the day's card too


def test_a_single_card_still_prices_every_day_and_usage_before_the_first_card_is_refused():
    rated = rate_records([rec(date(2001, 1, 1), "vcpu_hours", "1")], {"s": OLD}, {"gov-moh": "moh"})
    assert rated.lines[0].amount == 9000 and rated.lines[0].rate_version == "1404"
    with pytest.raises(RatingError, match="before its first rate card"):
        rate_records([rec(date(2026, 3, 1), "vcpu_hours", "1")], {"s": RateSchedule("s", [NEW])}, {})


def test_site_rate_card_history_is_checked():
    site = Site(**SITE, rate_card=NEW, rate_card_history=[OLD])
    assert [c.version for c in RateSchedule.of_site(site).cards] == ["1404", "1405"]
    Site(**SITE, rate_card=OLD)  # no history: validFrom may be omitted (backward compatible)
    for card, history, message in (
            (OLD, [NEW], "rateCard needs validFrom"),
            (NEW, [NEW], "given twice"),
            (NEW, [RateCard(version="x", valid_from=date(2026, 4, 1), vcpu_hour=1, **PRICES)], "must be the latest"),
            (NEW, [RateCard(version="x", currency="EUR", vcpu_hour=1, **PRICES)], "same currency"),
            (NEW, [OLD, RateCard(version="x", vcpu_hour=1, **PRICES)], "only the first")):
        with pytest.raises(ValidationError, match=message):
            Site(**SITE, rate_card=card, rate_card_history=history)


def test_an_edited_card_is_reported_not_silently_repriced():
    issued = {("s", "1404"): card_digest(OLD)}
    assert changed_cards(RateSchedule("s", [OLD]).cards, issued) == []
    edited = RateCard(version="1404", vcpu_hour=9500, **PRICES)  # same version, new price
    notes = changed_cards(RateSchedule("s", [edited]).cards, issued)
    assert len(notes) == 1 and "rate card 1404 of site s has changed" in notes[0]
    # the digest ignores layout: the same prices written as strings are the same card
    assert card_digest(RateCard(version="1404", vcpu_hour="9000", **PRICES)) == card_digest(OLD)


def test_a_discount_lowers_the_charge_of_the_meters_and_days_it_covers():
    sub = Subsidy(id="health-compute", kind="discount", percent=25, description="compute subsidy",
                  meters=["vcpu_hours"], valid_from=date(2026, 3, 2))
    recs = [rec(date(2026, 3, 1), "vcpu_hours", "10"), rec(date(2026, 3, 2), "vcpu_hours", "10"),
            rec(date(2026, 3, 2), "floating_ip_hours", "10")]
    rated = rate_records(recs, {"s": OLD}, {"gov-moh": "moh"}, discounts={"moh": [sub]})
    lines = {(l.meter, l.discount): l for l in rated.lines}
    full = lines[("vcpu_hours", "")]
    assert full.amount == 90_000 and full.list_amount is None
    cut = lines[("vcpu_hours", "health-compute")]
    assert cut.list_amount == 90_000 and cut.amount == 67_500 and cut.discount_percent == 25  # 90000 x 0.75
    assert lines[("floating_ip_hours", "")].amount == 20_000  # not a covered meter
    assert rated.total == 90_000 + 67_500 + 20_000
