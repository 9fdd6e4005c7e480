"""Charts as inline SVG (no JavaScript, no web fonts: the report works offline).

Each function returns one self-contained <svg> element as a string. Text is
escaped; Persian labels are drawn right-to-left (`direction="rtl"`) in a
font stack with Persian glyphs, the font-family of the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape

PALETTE = ("#2f6db5", "#e07b24", "#3a9a5b", "#c23b3b", "#7b5ab6", "#8c6d46", "#d16ba5", "#5f6b7a", "#b5a22f",
           "#2aa3a8", "#9aa5b1")
STATUS_COLORS = {"over": "#c23b3b", "warning": "#e0a024", "ok": "#2f6db5", "": "#2f6db5"}


@dataclass(frozen=True)
class Bar:
    label: str  # main label (may be Persian)
    sublabel: str  # small second line (latin)
    value: Decimal
    color: str = PALETTE[0]
    marker: Decimal | None = None  # e.g. the budget of the period
    note: str = ""  # text after the value, e.g. "85% of budget"
    rtl: bool = False


def compact(value: Decimal | float) -> str:
    """12_345_678 -> '12.3M' for axes and bar ends."""
    v = float(value)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            x = v / div
            return f"{x:.{0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2}f}{suffix}"
    return f"{v:,.0f}"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 13, fill: str = "#1f2933",
          weight: str = "normal", rtl: bool = False, cls: str = "") -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"'
    if weight != "normal":
        attrs += f' font-weight="{weight}"'
    if cls:
        attrs += f' class="{cls}"'
    if rtl:
        # for right-to-left text, "start" is the right end: anchor 'end' (right-aligned in LTR terms) -> 'start'
        anchor = {"end": "start", "start": "end"}.get(anchor, anchor)
        attrs += ' direction="rtl" unicode-bidi="embed" xml:lang="fa"'
    return f'<text {attrs} text-anchor="{anchor}">{escape(text)}</text>'


def hbar_chart(title: str, bars: list[Bar], *, width: int = 1120, label_width: int = 360, unit: str = "",
               empty: str = "no charges in this period", footnote: str = "") -> str:
    row, top, bottom = 36, 34, 30 + (22 if footnote else 0)
    height = top + max(len(bars), 1) * row + bottom
    x0 = label_width + 16
    plot_w = width - x0 - 190
    vmax = _nice_max(max([float(b.value) for b in bars] + [float(b.marker or 0) for b in bars] + [0]))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           _text(0, 20, title, size=15, weight="600")]
    if not bars:
        out.append(_text(x0, top + 24, empty, fill="#6b7785"))
    for k in range(5):  # grid
        gx = x0 + plot_w * k / 4
        out.append(f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{height - bottom + 4}" stroke="#e3e8ee"/>')
        out.append(_text(gx, height - bottom + 20, compact(vmax * k / 4), anchor="middle", size=11, fill="#6b7785"))
    if footnote:
        out.append(_text(x0, height - 6, footnote, size=12, fill="#3e4c59"))
    for i, b in enumerate(bars):
        y = top + i * row
        w = plot_w * float(b.value) / vmax
        out.append(_text(label_width, y + 14, b.label, anchor="end", size=14, rtl=b.rtl))
        if b.sublabel:
            out.append(_text(label_width, y + 29, b.sublabel, anchor="end", size=11, fill="#6b7785"))
        out.append(f'<rect x="{x0}" y="{y + 5}" width="{max(w, 1.5):.1f}" height="{row - 12}" rx="3" '
                   f'fill="{b.color}"><title>{escape(b.label)}: {b.value:,} {escape(unit)}</title></rect>')
        if b.marker is not None and b.marker > 0:
            mx = x0 + plot_w * float(b.marker) / vmax
            out.append(f'<line x1="{mx:.1f}" y1="{y + 2}" x2="{mx:.1f}" y2="{y + row - 4}" stroke="#1f2933" '
                       f'stroke-width="2" stroke-dasharray="4 2"/>')
        end = max(w, 1.5)
        if b.marker is not None and b.marker > 0:  # the value goes right of the bar and of its marker
            end = max(end, plot_w * float(b.marker) / vmax)
        out.append(_text(x0 + end + 8, y + 17, f"{b.value:,}", size=12, weight="600"))
        if b.note:
            out.append(_text(x0 + end + 8, y + 30, b.note, size=11, fill="#6b7785"))
    out.append("</svg>")
    return "\n".join(out)


def stacked_columns(title: str, days: list[str], series: list[tuple[str, str, list[Decimal]]], *,
                    width: int = 1120, height: int = 300, legend_rtl: bool = True) -> str:
    """Columns per day, stacked by series (name, color, values per day); a legend below."""
    left, right, top, bottom = 70, 10, 34, 48
    legend_rows = (len(series) + 3) // 4
    total_h = height + legend_rows * 24 + 6
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum((s[2][i] for s in series), Decimal(0)) for i in range(len(days))]
    vmax = _nice_max(float(max(totals, default=0)))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{total_h}" '
           f'viewBox="0 0 {width} {total_h}" role="img" aria-label="{escape(title)}">',
           _text(0, 20, title, size=15, weight="600")]
    for k in range(5):
        gy = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" stroke="#e3e8ee"/>')
        out.append(_text(left - 8, gy + 4, compact(vmax * k / 4), anchor="end", size=11, fill="#6b7785"))
    n = max(len(days), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.7, 40), 1)
    every = max(1, round(n / 16))  # at most ~16 date labels
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for name, color, values in series:
            v = float(values[i])
            if v <= 0:
                continue
            h = plot_h * v / vmax
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}">'
                       f'<title>{escape(day)} {escape(name)}: {values[i]:,.0f}</title></rect>')
        if i % every == 0:
            out.append(_text(x + bar_w / 2, top + plot_h + 16, day, anchor="middle", size=11, fill="#3e4c59"))
    if not days:
        out.append(_text(left + 10, top + plot_h / 2, "no charges in this period", fill="#6b7785"))
    ly = height + 4
    cell = plot_w / 4
    for j, (name, color, _) in enumerate(series):
        yy = ly + (j // 4) * 24
        rtl = legend_rtl and any("\u0600" <= ch <= "\u06ff" for ch in name)
        if rtl:  # cells fill from the right; swatch on the right, the name read right to left beside it
            cell_right = width - right - (j % 4) * cell
            out.append(f'<rect x="{cell_right - 14:.1f}" y="{yy:.1f}" width="14" height="14" rx="2" fill="{color}"/>')
            out.append(_text(cell_right - 20, yy + 12, name, anchor="end", size=12, rtl=True))
        else:
            lx = left + (j % 4) * cell
            out.append(f'<rect x="{lx:.1f}" y="{yy:.1f}" width="14" height="14" rx="2" fill="{color}"/>')
            out.append(_text(lx + 20, yy + 12, name, size=12))
    out.append("</svg>")
    return "\n".join(out)
