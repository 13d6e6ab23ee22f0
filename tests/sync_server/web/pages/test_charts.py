"""The server-drawn SVG charts (sync_server/web/pages/charts.py): well-formed,
escaped, and drawn to scale."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_server.web.pages.charts import bars, day_columns

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(5)]


def _svg(markup: str) -> ET.Element:
    svg = ET.fromstring(markup).find(f"{SVG}svg") if markup.startswith("<figure") else None
    assert svg is not None
    return svg


def _bars(svg: ET.Element) -> list[ET.Element]:
    return [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def test_columns_stack_each_day_to_scale() -> None:
    svg = _svg(day_columns("Uses", DAYS, {"bike": {DAYS[0]: 1, DAYS[2]: 2}, "bus": {DAYS[0]: 3, DAYS[4]: 1}}))
    shapes = _bars(svg)
    assert [shape.findtext(f"{SVG}title") for shape in shapes] == [
        "2026-05-01 bike: 1", "2026-05-01 bus: 3", "2026-05-03 bike: 2", "2026-05-05 bus: 1"]
    heights = [float(shape.get("height", "")) for shape in shapes]
    tallest = heights[0] + heights[1]  # day 1 holds the peak, 4
    assert abs(heights[2] - tallest / 2) < 0.05 and abs(heights[3] - tallest / 4) < 0.05
    assert svg.get("role") == "img" and svg.findtext(f"{SVG}title") == "Uses"


def test_labels_are_escaped() -> None:
    markup = bars("Denials <by> reason", [("<script>x</script>", 2), ("a & b", 1)])
    assert "<script>" not in markup
    svg = _svg(markup)
    assert [shape.findtext(f"{SVG}title") for shape in _bars(svg)] == ["<script>x</script>: 2", "a & b: 1"]


def test_bars_are_to_scale() -> None:
    widths = [float(shape.get("width", "")) for shape in _bars(_svg(bars("States", [("a", 4), ("b", 1), ("c", 0)])))]
    assert abs(widths[1] - widths[0] / 4) < 0.05 and widths[2] == 0


def test_nothing_to_draw_says_so() -> None:
    for markup in (day_columns("Uses", DAYS, {}), day_columns("Uses", [], {"bus": {}}), bars("States", [])):
        svg = _svg(markup)
        assert _bars(svg) == [] and "No data in this period" in markup


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.dictionaries(st.sampled_from(DAYS), st.integers(0, 10**9)),
                       max_size=10))
def test_any_series_makes_well_formed_svg_within_the_plot(series: dict[str, dict[dt.date, int]]) -> None:
    svg = _svg(day_columns("Any", DAYS, series))
    for shape in _bars(svg):
        assert float(shape.get("y", "")) >= 13.9 and float(shape.get("height", "")) >= 0
