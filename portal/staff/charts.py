"""Server-rendered SVG charts for the staff console: no script, no third-party code.

The console's CSP allows styles from ``staff.css`` only, so the markup carries classes and
geometry, never a ``style`` attribute; colours live in the stylesheet. Every piece of text is
escaped here (currency codes and labels included), so the result can be trusted as
:class:`~markupsafe.Markup` by the template. Each chart is ``role="img"`` with a ``<title>``
and a ``<desc>`` that states every figure, and each bar has its own ``<title>`` (a tooltip);
the page also shows the same figures in a table.

Geometry is integer pixels: bar heights are proportional to the largest amount, rounded half
up, computed in integer arithmetic from the minor units (no floats touch money).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from payments.console import kpis

WIDTH, HEIGHT = 560, 230
PLOT_TOP, PLOT_HEIGHT = 30, 160  # room above the bars for their amounts
BASELINE = PLOT_TOP + PLOT_HEIGHT
BAR_WIDTH = 72
BUCKET_LABELS = {"current": "Current", "1-30": "1–30 days", "31-60": "31–60 days",
                 "61-90": "61–90 days", "90+": "90+ days"}


@dataclass(frozen=True)
class Bar:
    """One bar: what it is, how much (minor units, for its height) and how that reads."""

    label: str
    amount: int
    text: str
    note: str = ""


def bar_heights(amounts: Sequence[int], plot_height: int = PLOT_HEIGHT) -> list[int]:
    """Pixel heights proportional to the largest amount (which gets ``plot_height``).

    Rounded half up; a positive amount never rounds to nothing (a 1 px bar shows it exists);
    zero and negative amounts (nothing to draw) get 0.
    """
    top = max((a for a in amounts if a > 0), default=0)
    if top == 0:
        return [0 for _ in amounts]
    return [0 if a <= 0 else max(1, (2 * a * plot_height + top) // (2 * top)) for a in amounts]


def bar_chart(chart_id: str, title: str, summary: str, bars: Sequence[Bar]) -> Markup:
    """A vertical bar chart: amounts above the bars, labels under them, a baseline.

    ``chart_id`` prefixes the ids the accessible name refers to (unique per page).
    """
    ident = escape(chart_id)
    slot = WIDTH // max(1, len(bars))
    parts = [Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" '
        'role="img" aria-labelledby="{i}-title {i}-desc">'
        '<title id="{i}-title">{t}</title><desc id="{i}-desc">{d}</desc>'
    ).format(w=WIDTH, h=HEIGHT, i=ident, t=title, d=summary)]
    for index, (bar, height) in enumerate(zip(bars, bar_heights([b.amount for b in bars]),
                                              strict=True)):
        parts.append(_bar(index, slot, bar, height))
    parts.append(Markup('<line class="axis" x1="0" y1="{y}" x2="{w}" y2="{y}"/></svg>')
                 .format(y=BASELINE, w=WIDTH))
    return Markup("").join(parts)


def _bar(index: int, slot: int, bar: Bar, height: int) -> Markup:
    centre = index * slot + slot // 2
    tooltip = f"{bar.label}: {bar.text}" + (f" ({bar.note})" if bar.note else "")
    return Markup(
        '<g class="bar b{n}"><title>{tip}</title>'
        '<rect x="{x}" y="{y}" width="{bw}" height="{bh}"/>'
        '<text class="amount" x="{c}" y="{ty}" text-anchor="middle">{amount}</text>'
        '<text class="label" x="{c}" y="{ly}" text-anchor="middle">{label}</text></g>'
    ).format(n=index, tip=tooltip, x=centre - BAR_WIDTH // 2, y=BASELINE - height,
             bw=BAR_WIDTH, bh=height, c=centre, ty=BASELINE - height - 8, amount=bar.text,
             ly=BASELINE + 20, label=bar.label)


def _invoices(count: int) -> str:
    return f"{count} invoice" + ("" if count == 1 else "s")


def aging_chart(aging: kpis.Aging, money: Callable[[int], str]) -> Markup:
    """The aging buckets of one currency as a bar chart; ``money`` formats its amounts."""
    bars = [Bar(BUCKET_LABELS.get(b.label, b.label), b.amount, money(b.amount),
                _invoices(b.count)) for b in aging.buckets]
    summary = (f"Open receivables in {aging.currency} by days past due, "
               f"{money(aging.total)} in {_invoices(aging.count)}: "
               + "; ".join(f"{b.label} {b.text} ({b.note})" for b in bars) + ".")
    return bar_chart(f"aging-{aging.currency}", f"Aging of receivables, {aging.currency}",
                     summary, bars)
