"""The anomalies page: the impossible card histories reconciliation found,
open ones first (newest first within each group), with their review."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import Table, case, func, select

from ...db.models import ANOMALY_STATUSES, Anomaly
from .blueprint import bp, reading
from .guard import page

ANOMALIES_ROLES = ("admin", "card_office", "auditor")
SHOWN_MAX = 500
"""Anomalies listed on the page; the counts above the table cover them all."""

_ANOMALIES: Table = Anomaly.__table__  # type: ignore[assignment]


@bp.get("/anomalies")
@page(*ANOMALIES_ROLES)
def anomalies() -> str:
    """The anomalies, open ones first."""
    with reading("reading anomalies") as conn:
        rows = conn.execute(select(_ANOMALIES).order_by(case((_ANOMALIES.c.status == "open", 0), else_=1),
                                                        _ANOMALIES.c.id.desc()).limit(SHOWN_MAX)).all()
        counts = dict(conn.execute(select(_ANOMALIES.c.status, func.count()).group_by(_ANOMALIES.c.status)).all())
    return render_template("pages/anomalies.html", rows=rows, shown_max=SHOWN_MAX,
                           counts={status: counts.get(status, 0) for status in ANOMALY_STATUSES})
