"""Monthly cost estimate of a ResourcePlan from its site's rate card.

Meters: vCPU-hours and RAM GB-hours of servers, volume GB-months, bucket
GB-months (on the bucket's quota: what the agency reserved) and
floating-IP-hours, with 730 hours in a month. Money is Decimal throughout,
rounded to whole units of the currency only when shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from govcloud.load.inventory import RateCard
from govcloud.plan.model import ResourcePlan

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
