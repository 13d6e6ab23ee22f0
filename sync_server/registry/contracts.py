"""Contracts sold on a card: a transit pass, a bike or EV-charging
subscription, a library or museum card. The registry records what the card
carries (the issuance point or a kiosk writes it on the chip: the issuance
answer lists the card's contracts), so a duplicate gets them again and the
card detail shows them."""

from __future__ import annotations

import datetime as dt

from card_layout.records.contracts import ContractKind

from .. import audit
from ..audit import Actor
from ..errors import CardStateError, InvalidValueError
from .base import CONTRACTS, Registry, check_card_number
from .cards import Contract, fetch
from .states import record_event

KINDS = tuple(kind.name.lower() for kind in ContractKind)
SELLABLE_STATES = ("active",)
OPERATOR_MAX = 0xFF   # 8 bits on the card
PRODUCT_MAX = 0xFFFF  # 16 bits on the card


def sell(registry: Registry, actor: Actor, card_number: int, *, kind: str, valid_from: dt.date,
         valid_until: dt.date, operator: int = 0, product: int = 0) -> Contract:
    """Record a contract of ``kind`` on the active card ``card_number``, audited.

    :raises InvalidValueError: for an unknown kind, dates that end before they start, or an operator or
        product out of the card's range.
    :raises UnknownCardError: when the registry holds no such card.
    :raises CardStateError: when the card is not active.
    :raises StoreError: when the database fails.
    """
    check_card_number(card_number)
    if kind not in KINDS:
        raise InvalidValueError(f"a contract kind is one of {', '.join(KINDS)}")
    if not isinstance(valid_from, dt.date) or not isinstance(valid_until, dt.date) or valid_until < valid_from:
        raise InvalidValueError("a contract runs from valid_from to valid_until, not earlier")
    for name, value, high in (("operator", operator, OPERATOR_MAX), ("product", product, PRODUCT_MAX)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise InvalidValueError(f"{name} must be an integer in 0..{high}")
    now = registry.now()
    with registry.write(f"selling a {kind} contract for card {card_number}") as conn:
        card = fetch(conn, card_number, for_update=True)
        if card.state not in SELLABLE_STATES:
            raise CardStateError(f"card {card_number} is {card.state}: no contract can be sold on it")
        conn.execute(CONTRACTS.insert().values(card_number=card_number, kind=kind, valid_from=valid_from,
                                               valid_until=valid_until, operator=operator, product=product))
        record_event(conn, card_number, now, "contract", actor,
                     reason=f"{kind} {valid_from.isoformat()}..{valid_until.isoformat()}")
        audit.record(conn, actor, "card.contract_sold", f"card:{card_number}", now,
                     {"kind": kind, "valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat(),
                      "operator": operator, "product": product})
    return Contract(kind, valid_from, valid_until, operator, product)
