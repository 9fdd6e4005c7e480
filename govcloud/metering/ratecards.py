"""Rate cards over time: which card priced a day, and a guard against re-pricing the past.

A site's `rateCard` is its latest card and `rateCardHistory` the earlier ones
(govcloud/load/inventory.py); each card prices the UTC days from its
`validFrom` up to the day before the next card's. Usage is stored per day, so
every daily record has exactly one card, and every charge line carries the
version that priced it.

Editing a card that has already priced a statement or a FOCUS export would
silently re-price the past. So each card has a digest (sha256 of its prices,
currency and start day), the store remembers the digest of every version it
issued documents with (`UsageStore.rate_card_digests`), and a later report
with a different digest for the same version says so in its notes (a price
change must be a new version with its own `validFrom`).
"""
from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Mapping

PRICE_FIELDS = ("vcpu_hour", "ram_gb_hour", "volume_gb_month", "bucket_gb_month", "floating_ip_hour")


def card_digest(card) -> str:
    """sha256 over what a card means (version, start, currency, prices), independent of YAML layout."""
    doc = {"version": card.version, "validFrom": card.valid_from.isoformat() if card.valid_from else None,
           "currency": card.currency, **{f: str(Decimal(getattr(card, f)).normalize()) for f in PRICE_FIELDS}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class DatedCard:
    """One card with the days it prices: [valid_from, valid_to] (None: open on that side)."""

    site: str
    card: object  # inventory.RateCard
    valid_from: date | None
    valid_to: date | None  # last day, included
    digest: str

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def currency(self) -> str:
        return self.card.currency

    def price(self, field_name: str) -> Decimal:
        return Decimal(getattr(self.card, field_name))

    def to_json(self) -> dict:
        return {"site": self.site, "version": self.version, "currency": self.currency,
                "validFrom": self.valid_from.isoformat() if self.valid_from else None,
                "validTo": self.valid_to.isoformat() if self.valid_to else None, "sha256": self.digest,
                "prices": {f: str(self.price(f)) for f in PRICE_FIELDS}}


class RateSchedule:
    """The cards of one site in date order; `on(day)` is the card that prices that day."""

    def __init__(self, site: str, cards: Iterable):
        ordered = sorted(cards, key=lambda c: c.valid_from or date.min)
        if not ordered:
            raise ValueError(f"site {site} has no rate card")
        self.site = site
        self.cards: list[DatedCard] = []
        for i, c in enumerate(ordered):
            nxt = ordered[i + 1].valid_from if i + 1 < len(ordered) else None
            self.cards.append(DatedCard(site, c, c.valid_from, nxt - timedelta(days=1) if nxt else None,
                                        card_digest(c)))
        self._starts = [c.valid_from or date.min for c in self.cards]
        self.currency = self.cards[-1].currency

    @classmethod
    def of_site(cls, site) -> "RateSchedule":
        """From an inventory.Site: `rateCard` and `rateCardHistory`."""
        return cls(site.name, [*getattr(site, "rate_card_history", ()), site.rate_card])

    @classmethod
    def coerce(cls, site: str, value) -> "RateSchedule":
        """A RateSchedule, or a single RateCard (priced every day: what older callers pass)."""
        return value if isinstance(value, RateSchedule) else cls(site, [value])

    def on(self, day: date) -> DatedCard | None:
        """The card in force on `day`, None before the first card's validFrom."""
        i = bisect_right(self._starts, day) - 1
        return self.cards[i] if i >= 0 else None

    def overlapping(self, first: date, last: date) -> list[DatedCard]:
        return [c for c in self.cards if (c.valid_from is None or c.valid_from <= last)
                and (c.valid_to is None or c.valid_to >= first)]


def schedules(inventory, sites: Iterable[str]) -> dict[str, RateSchedule]:
    out = {}
    for name in sites:
        site = inventory.site(name)
        if site is not None:
            out[name] = RateSchedule.of_site(site)
    return out


def changed_cards(used: Iterable[DatedCard], recorded: Mapping[tuple[str, str], str]) -> list[str]:
    """Notes for cards whose content differs from the digest recorded when they first priced a document."""
    notes = []
    for c in used:
        before = recorded.get((c.site, c.version))
        if before is not None and before != c.digest:
            notes.append(f"rate card {c.version} of site {c.site} has changed since documents were issued with it "
                         f"(sha256 {before[:12]} then, {c.digest[:12]} now): past charges are re-priced. Undo the "
                         f"edit and give new prices a new version with its own validFrom")
    return notes
