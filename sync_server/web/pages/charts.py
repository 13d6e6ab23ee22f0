"""Charts of the staff pages, drawn on the server as inline SVG (no script,
nothing fetched): columns per day, stacked by series (uses or revenue per
service), and horizontal bars (denials by reason, cards by state).

Colours and sizes are SVG presentation attributes, not ``style``, so the
pages' Content-Security-Policy (no inline styles) does not stop them. Every
chart is a ``<figure class="chart">`` whose ``<svg>`` has a ``<title>`` and
``role="img"``; its numbers are also in each shape's ``<title>`` tooltip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f5fa8", "#e07b00", "#2e7d32", "#8e3bb0", "#c62828", "#00838f", "#6d4c41", "#546e7a")
"""Series colours, in order; more series than colours reuse them."""

WIDTH = 640
Formatter = Callable[[int], str]


def _text(label: str) -> Markup:
    """``label`` escaped, without the control characters XML forbids (a reason comes from a device)."""
    return escape("".join(ch if ch >= " " or ch in "\t\n" else "\ufffd" for ch in label))


def _count(value: int) -> str:
    return f"{value:,}"


def _figure(caption: str, height: int, body: str, legend: Sequence[tuple[str, str]] = ()) -> Markup:
    keys = "".join(f'<rect x="{8 + 130 * i}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{22 + 130 * i}" y="{height - 5}" font-size="11" fill="#1d2733">{_text(name)}</text>'
                   for i, (name, colour) in enumerate(legend))
    return Markup(
        f'<figure class="chart"><figcaption>{_text(caption)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'font-family="system-ui, sans-serif"><title>{_text(caption)}</title>{body}{keys}</svg></figure>')


def _empty(caption: str) -> Markup:
    return _figure(caption, 60, f'<text x="{WIDTH // 2}" y="34" text-anchor="middle" font-size="13" '
                                f'fill="#5b6776">No data in this period</text>')


def day_columns(caption: str, days: Sequence[dt.date], series: Mapping[str, Mapping[dt.date, int]],
                *, fmt: Formatter = _count) -> Markup:
    """One column per day of ``days``, stacked by series (name -> day -> value, values >= 0)."""
    totals = [sum(values.get(day, 0) for values in series.values()) for day in days]
    if not days or not any(totals):
        return _empty(caption)
    height, top, left, bottom = 260, 14, 64, 44
    plot_w, plot_h = WIDTH - left - 10, height - top - bottom
    peak = max(totals)
    step = plot_w / len(days)
    gap = min(2.0, step * 0.2)
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 10}" y2="{top + plot_h}" stroke="#8a94a3"/>']
    for level in sorted({peak // 2, peak} - {0}):  # whole values, each line where its value is
        y = top + plot_h * (1 - level / peak)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 10}" y2="{y:.1f}" stroke="#e3e7ed"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6776">'
                     f'{escape(fmt(level))}</text>')
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    for i, day in enumerate(days):
        x = left + i * step + gap / 2
        y = top + plot_h
        for name, values in series.items():
            value = values.get(day, 0)
            if value <= 0:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{step - gap:.2f}" height="{h:.2f}" '
                         f'fill="{colours[name]}"><title>{day.isoformat()} {_text(name)}: '
                         f'{escape(fmt(value))}</title></rect>')
    for i in sorted({0, len(days) // 2, len(days) - 1}):
        x, anchor = left + (i + 0.5) * step, "middle"
        if len(days) > 1 and i in (0, len(days) - 1):  # the outer labels inside the chart, whatever the width
            x, anchor = (left, "start") if i == 0 else (WIDTH - 10, "end")
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#5b6776">{days[i].isoformat()}</text>')
    return _figure(caption, height, "".join(parts), list(colours.items()))


def bars(caption: str, items: Sequence[tuple[str, int]], *, fmt: Formatter = _count) -> Markup:
    """One horizontal bar per ``(label, value)``, in the order given."""
    if not items or not any(value for _, value in items):
        return _empty(caption)
    row, left, top = 24, 170, 6
    height = top * 2 + row * len(items)
    peak = max(value for _, value in items)
    plot_w = WIDTH - left - 90
    parts = []
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / peak if peak else 0
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="12" fill="#1d2733">'
                     f'{_text(label[:28])}</text>'
                     f'<rect class="bar" x="{left}" y="{y + 4}" width="{w:.2f}" height="{row - 8}" '
                     f'fill="{PALETTE[0]}"><title>{_text(label)}: {escape(fmt(value))}</title></rect>'
                     f'<text x="{left + w + 6:.2f}" y="{y + 16}" font-size="12" fill="#1d2733">'
                     f'{escape(fmt(value))}</text>')
    return _figure(caption, height, "".join(parts))
