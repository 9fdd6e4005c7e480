"""Monthly cost estimate of a ResourcePlan from its site's rate card.

Meters: vCPU-hours and RAM GB-hours of servers, volume GB-months, bucket
GB-months (on the bucket's quota: what the agency reserved) and
floating-IP-hours, with 730 hours in a month. Money is Decimal throughout,
rounded to whole units of the currency only when shown. `price_deployed`
prices a resource as the engine's state holds it (the review's "before").
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from govcloud.load.inventory import RateCard, Site
from govcloud.plan.model import ResourcePlan
from govcloud.plan.resources import CONTAINER, FLOATING_IP, INSTANCE, VOLUME

HOURS_PER_MONTH = Decimal(730)


@dataclass(frozen=True, slots=True)
class CostLine:
    key: str
    kind: str
    name: str
    meter: str  # human description of the quantity
    quantity: Decimal
    unit_price: Decimal
    monthly: Decimal


@dataclass(frozen=True, slots=True)
class CostEstimate:
    currency: str
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.monthly for line in self.lines), Decimal(0))

    def by_resource(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for line in self.lines:
            out[line.key] = out.get(line.key, Decimal(0)) + line.monthly
        return out

    def to_json(self) -> dict:
        return {
            "currency": self.currency,
            "hoursPerMonth": int(HOURS_PER_MONTH),
            "lines": [{"key": l.key, "kind": l.kind, "name": l.name, "meter": l.meter,
                       "quantity": str(l.quantity), "unitPrice": str(l.unit_price), "monthly": str(money(l.monthly))}
                      for l in self.lines],
            "total": str(money(self.total)),
        }


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def format_money(value: Decimal, currency: str) -> str:
    return f"{money(value):,} {currency}"


def estimate(plan: ResourcePlan, rates: RateCard) -> CostEstimate:
    lines: list[CostLine] = []
    for r in plan.resources:
        m = r.meters

        def line(meter: str, qty: Decimal, price: Decimal) -> None:
            lines.append(CostLine(r.key, r.kind, r.name, meter, qty, price, qty * price))

        if "vcpu" in m:
            line("vCPU-hours", m["vcpu"] * HOURS_PER_MONTH, rates.vcpu_hour)
        if "ramGb" in m:
            line("RAM GB-hours", m["ramGb"] * HOURS_PER_MONTH, rates.ram_gb_hour)
        if "volumeGb" in m:
            line("volume GB-months", m["volumeGb"], rates.volume_gb_month)
        if "bucketGb" in m:
            line("bucket GB-months", m["bucketGb"], rates.bucket_gb_month)
        if "floatingIp" in m:
            line("floating-IP-hours", m["floatingIp"] * HOURS_PER_MONTH, rates.floating_ip_hour)
    return CostEstimate(rates.currency, tuple(lines))


def price_deployed(rtype: str, inputs: Mapping[str, Any] | None, site: Site) -> Decimal | None:
    """Monthly price of a deployed resource from its OLD inputs (Pulumi names), at the site's rate card.

    The same meters as `estimate` (one pricing module for plans and deployed state): a server's flavor (via the site's sizes), a volume's size,
    a floating IP, a bucket's quota (`Quota-Bytes`). None when it cannot be priced (a flavor the site does
    not list, missing inputs).
    """
    rates = site.rate_card
    if rtype == INSTANCE:
        if inputs is None:
            return None
        size = next((s for s in site.sizes.values() if s.flavor == inputs.get("flavorName")), None)
        if size is None:
            return None
        return (Decimal(size.vcpus) * rates.vcpu_hour + Decimal(size.ram_mb) / 1024 * rates.ram_gb_hour) \
            * HOURS_PER_MONTH
    if rtype == VOLUME:
        if inputs is None:
            return None
        sz = inputs.get("size")
        if isinstance(sz, bool) or not isinstance(sz, (int, float)):
            return None
        return Decimal(str(sz)) * rates.volume_gb_month
    if rtype == FLOATING_IP:
        return HOURS_PER_MONTH * rates.floating_ip_hour
    if rtype == CONTAINER:
        if inputs is None:
            return None
        meta = inputs.get("metadata")
        quota = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
        if quota in (None, ""):
            return Decimal(0)
        try:
            return Decimal(str(quota)) / 1024 ** 3 * rates.bucket_gb_month
        except ArithmeticError:
            return None
    return Decimal(0)
