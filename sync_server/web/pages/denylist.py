"""The deny-list page: the cards denied now (newest first) and, for the
roles that may block, a form to block a card by number, UID or both with a
reason. A block goes through the registry
(:func:`sync_server.registry.states.block_keys`): a registered card active or
suspended becomes ``blocked`` in the same transaction as its deny-list entries
and the audit record, so the registry and the deny-list never disagree; every
device receives the block with the next deny-list version."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import Table, func, select
from werkzeug.wrappers import Response

from ...db.models import DenyEntry
from ...db.types import UNSIGNED_MAX
from ...errors import InvalidValueError
from ...registry import states
from ..api import BLOCK_ROLES, REASON_MAX
from ..auth import current_actor
from ..extensions import database
from ..holders import registry
from .blueprint import bp, reading
from .fields import digits, has_control, parse_uid
from .guard import page
from .nav import allows

DENYLIST_ROLES = ("admin", "card_office", "auditor")
SHOWN_MAX = 500
"""Entries listed on the page (the newest); the page says how many there are in all."""

_DENY: Table = DenyEntry.__table__  # type: ignore[assignment]


@dataclass
class BlockForm:
    """The block form's values as typed, and what is wrong with them, by field."""

    card_number: str = ""
    uid: str = ""
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def parsed(self) -> tuple[int | None, bytes | None, str]:
        """``(card_number, uid, reason)``; fills :attr:`errors` for what cannot be used."""
        card_number = uid = None
        if self.card_number:
            if not digits(self.card_number) or len(self.card_number) > 20 or int(self.card_number) > UNSIGNED_MAX:
                self.errors["card_number"] = f"A card number is a whole number from 0 to {UNSIGNED_MAX}."
            else:
                card_number = int(self.card_number)
        if self.uid:
            uid = parse_uid(self.uid)
            if uid is None:
                self.errors["uid"] = "A UID is 4 or 7 bytes in hex: 8 or 14 hex digits."
        if not self.card_number and not self.uid:
            self.errors["card_number"] = "Give the card number, the UID or both."
        if not self.reason:
            self.errors["reason"] = "Give the reason: the rider sees it at the validator."
        elif len(self.reason) > REASON_MAX:
            self.errors["reason"] = f"The reason is at most {REASON_MAX} characters."
        elif has_control(self.reason):
            self.errors["reason"] = "Use no control characters (such as a tab or a line break)."
        return card_number, uid, self.reason


def _render(form: BlockForm, status: int = 200, blocked: str | None = None) -> tuple[str, int]:
    with reading("reading the deny-list") as conn:
        rows = conn.execute(select(_DENY.c.card_number, _DENY.c.uid, _DENY.c.reason, _DENY.c.blocked_at)
                            .order_by(_DENY.c.blocked_at.desc(), _DENY.c.id.desc()).limit(SHOWN_MAX)).all()
        total = conn.execute(select(func.count()).select_from(_DENY)).scalar_one()
    entries = [{"card_number": row.card_number, "uid": None if row.uid is None else bytes(row.uid).hex().upper(),
                "reason": row.reason, "blocked_at": row.blocked_at} for row in rows]
    return render_template("pages/denylist.html", entries=entries, total=total, form=form, blocked=blocked,
                           version=database.store.list_version("denylist"), reason_max=REASON_MAX,
                           can_block=allows("pages.denylist_block", g.staff_member.role)), status


@bp.get("/denylist")
@page(*DENYLIST_ROLES)
def denylist() -> tuple[str, int]:
    """The current deny-list, and the block form for those who may block."""
    blocked = request.args.get("blocked")
    return _render(BlockForm(), blocked=blocked if blocked and digits(blocked) else None)


@bp.post("/denylist")
@page(*BLOCK_ROLES)
def denylist_block() -> Response | tuple[str, int]:
    """Block a card; back to the list, which shows the deny-list version holding the block."""
    form = BlockForm(card_number=request.form.get("card_number", "").strip(),
                     uid=request.form.get("uid", "").strip(), reason=request.form.get("reason", "").strip())
    card_number, uid, reason = form.parsed()
    if form.errors:
        return _render(form, 400)
    try:
        version = states.block_keys(registry(), current_actor(), card_number=card_number, uid=uid, reason=reason)
    except InvalidValueError as exc:  # the number of one registered card and the UID of another
        form.errors["uid"] = str(exc)
        return _render(form, 400)
    return redirect(url_for("pages.denylist", blocked=version), 303)
