"""The staff pages: server-rendered HTML under ``/staff`` for the back
office's people (the API under ``/api/v1`` is for programs).

Sign-in with a username and password (:mod:`.signin`), server-side sessions
with CSRF tokens and the API's roles (:mod:`.guard`), the security headers of
every answer (:mod:`.blueprint`), and the pages: the dashboard (KPIs with
charts drawn as inline SVG on the server, :mod:`.charts`), card search and
a card's page with the desk's actions (:mod:`.cards`), the applications queue
and the forms to apply and register a holder (:mod:`.applications`),
transactions with their CSV (:mod:`.transactions`), settlements
(:mod:`.settlements`), devices, the deny-list with its block form, and
anomalies. No script runs in the browser
and nothing is fetched from elsewhere. docs/staff-pages.md describes them.
"""

from __future__ import annotations

from . import (  # noqa: F401  (their views register on the blueprint)
    anomalies,
    applications,
    cards,
    dashboard,
    denylist,
    devices,
    settlements,
    signin,
    transactions,
)
from .blueprint import bp

__all__ = ["bp"]
