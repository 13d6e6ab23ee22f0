"""A card replaced by its duplicate or renewal: what moves to the new card
and how the old one is retired, within the issuance's transaction.

The money moves whole: the new card starts with the old card's shadow
balance (its ``initial_balance_cents`` if no completed transaction of it ever
synced) plus its load orders no device applied yet; those orders are
cancelled and their pending loads leave the ``loads`` list, so no device
credits them to the old card. Contracts still valid are copied. The old card
becomes ``replaced`` (denied by number and UID, ``replaced_by`` set), and
both cards' histories record the amount moved.

A tap the old card makes offline after the move (a device that did not have
the deny-list update yet) spends money the new card holds too: it arrives as
a transaction of a ``replaced`` card, which reconciliation must flag."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from device.protocol import items

from .. import audit, list_changes
from ..audit import Actor
from ..errors import CardStateError
from .base import CARDS, CONTRACTS, LOAD_ORDERS, PENDING_LOADS, Registry
from .cards import Card, Contract, PendingOrder, contracts_of, pending_orders, shadow_of
from .states import record_event


@dataclass(frozen=True)
class Takeover:
    """What the new card takes over from ``old``."""

    old: Card
    balance_cents: int
    """The old card's shadow balance, or its initial balance if it never synced."""
    loads: tuple[PendingOrder, ...]
    contracts: tuple[Contract, ...]

    @property
    def amount_cents(self) -> int:
        """The new card's initial balance: the balance and the pending loads."""
        return self.balance_cents + sum(load.amount_cents for load in self.loads)


def plan(conn: Connection, old: Card, today: dt.date) -> Takeover:
    """What moves from ``old`` (read within ``conn``'s transaction, its row locked).

    :raises CardStateError: when ``old`` was replaced already.
    """
    if old.state == "replaced":
        raise CardStateError(f"card {old.card_number} was replaced already (by {old.replaced_by})")
    shadow = shadow_of(conn, old.card_number)
    balance = old.initial_balance_cents if shadow is None else shadow.balance_cents
    contracts = tuple(contract for contract in contracts_of(conn, old.card_number) if contract.valid_until >= today)
    return Takeover(old, balance, pending_orders(conn, old.card_number), contracts)


def retire(registry: Registry, conn: Connection, takeover: Takeover, new_card_number: int, actor: Actor,
           now: dt.datetime) -> int:
    """Move ``takeover`` to the card ``new_card_number`` (inserted already):
    contracts copied, load orders cancelled and off the ``loads`` list, the
    old card replaced and denied, both histories and the audit log told.

    :returns: the deny-list version that denies the old card.
    """
    old = takeover.old
    if takeover.contracts:
        conn.execute(CONTRACTS.insert(), [
            {"card_number": new_card_number, "kind": c.kind, "valid_from": c.valid_from,
             "valid_until": c.valid_until, "operator": c.operator, "product": c.product}
            for c in takeover.contracts])
    if takeover.loads:
        conn.execute(update(LOAD_ORDERS).where(LOAD_ORDERS.c.id.in_([load.id for load in takeover.loads]))
                     .values(cancelled_at=now))
        seqs = [load.load_seq for load in takeover.loads]
        removed = conn.execute(delete(PENDING_LOADS).where((PENDING_LOADS.c.card_number == old.card_number)
                                                           & PENDING_LOADS.c.load_seq.in_(seqs))).rowcount
        if removed:
            list_changes.next_version(conn, "loads", [
                ("remove", items.load_removal_to_item(old.card_number, seq)) for seq in seqs])
    conn.execute(update(CARDS).where(CARDS.c.card_number == old.card_number).values(
        state="replaced", state_reason=f"replaced by card {new_card_number}", state_changed_at=now,
        replaced_by=new_card_number))
    record_event(conn, old.card_number, now, "replaced", actor, from_state=old.state, to_state="replaced",
                 reason=f"replaced by card {new_card_number}")
    amount = takeover.amount_cents
    pending = amount - takeover.balance_cents
    moved = f"{amount} cents (balance {takeover.balance_cents}, pending loads {pending})"
    record_event(conn, old.card_number, now, "balance_moved", actor, reason=f"{moved} to card {new_card_number}")
    record_event(conn, new_card_number, now, "balance_moved", actor, reason=f"{moved} from card {old.card_number}")
    version = registry.store.block(card_number=old.card_number, uid=old.uid, reason="replaced", within=conn)
    audit.record(conn, actor, "card.balance_moved", f"card:{old.card_number}", now, {
        "to": new_card_number, "amount_cents": amount, "balance_cents": takeover.balance_cents,
        "pending_loads_cents": pending, "cancelled_load_orders": [load.id for load in takeover.loads],
        "contracts": len(takeover.contracts), "denylist_version": version})
    return version
