"""The dashboard: the key figures of a period of days (UTC) from
:func:`sync_server.reports.kpis`, as numbers and as charts: uses per day per
service, revenue per day per service, top-ups per day, denials by reason, and
the registry's cards by state. The period is chosen with two dates (both
included; the last 30 days by default)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from flask import render_template, request

from ... import reports
from ..extensions import database
from .blueprint import bp, cents, now
from .charts import bars, day_columns
from .guard import page

DASHBOARD_ROLES = ("admin", "finance", "auditor", "operator")
DEFAULT_DAYS = 30
DAYS_MAX = 366
"""The longest period the dashboard shows, in days (a column per day must stay visible)."""


def _series(items: Sequence[reports.ServiceDay]) -> dict[str, dict[dt.date, int]]:
    series: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for item in items:
        series[item.service][item.day] = item.value
    return dict(sorted(series.items()))


def _period() -> tuple[dt.date, dt.date, str | None]:
    """The first and last day asked for, and what is wrong with them (then the default period)."""
    last = now().astimezone(dt.UTC).date()
    default = (last - dt.timedelta(days=DEFAULT_DAYS - 1), last)
    given_from, given_to = request.args.get("from", "").strip(), request.args.get("to", "").strip()
    if not given_from and not given_to:
        return *default, None
    try:
        first = dt.date.fromisoformat(given_from) if given_from else default[0]
        last = dt.date.fromisoformat(given_to) if given_to else default[1]
    except ValueError:
        return *default, "Dates are written YYYY-MM-DD."
    if last < first:
        return *default, "The last day cannot be before the first."
    if (last - first).days + 1 > DAYS_MAX:
        return *default, f"The dashboard shows at most {DAYS_MAX} days at once."
    return first, last, None


@bp.get("/dashboard")
@page(*DASHBOARD_ROLES)
def dashboard() -> tuple[str, int]:
    """The key figures and charts of the period."""
    first, last, error = _period()
    kpis = reports.kpis(database.engine, first, last + dt.timedelta(days=1))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    charts = [
        day_columns("Uses per day, by service", days, _series(kpis.uses)),
        day_columns("Revenue per day, by service", days, _series(kpis.revenue), fmt=cents),
        day_columns("Top-ups per day (amount)", days,
                    {"top-ups": {item.day: item.cents for item in kpis.top_ups}}, fmt=cents),
        bars("Denials by reason", sorted(kpis.denials_by_reason.items(), key=lambda item: (-item[1], item[0]))),
        bars("Cards by state (registry now)", list(kpis.cards_by_state.items())),
    ]
    return render_template("pages/dashboard.html", kpis=kpis, first=first, last=last, error=error,
                           charts=charts), 400 if error else 200
