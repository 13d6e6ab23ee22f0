"""The navigation of the staff pages: every page in menu order, shown to a
user only when the page is there (registered on the blueprint) and the
user's role may open it (the roles its ``@page`` names)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, url_for


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str


NAV = (
    NavItem("pages.dashboard", "Dashboard"),
    NavItem("pages.cards", "Cards"),
    NavItem("pages.applications", "Applications"),
    NavItem("pages.transactions", "Transactions"),
    NavItem("pages.settlements", "Settlements"),
    NavItem("pages.devices", "Devices"),
    NavItem("pages.denylist", "Deny-list"),
    NavItem("pages.anomalies", "Anomalies"),
)


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: str
    url: str


def allows(endpoint: str, role: str) -> bool:
    """Whether the page ``endpoint`` exists and ``role`` may open it."""
    view = current_app.view_functions.get(endpoint)
    return view is not None and role in getattr(view, "required_roles", ())


def visible_nav(role: str) -> tuple[NavLink, ...]:
    """The pages ``role`` may open, in menu order."""
    return tuple(NavLink(item.endpoint, item.label, url_for(item.endpoint)) for item in NAV
                 if allows(item.endpoint, role))
