"""The demo's end checks, each printed with ✓ or ✗: every journal entry
acknowledged by the server, one server transaction per journal entry, the
server's shadow of every card equal to the card, no anomalies, no money moved
by a denied tap of a blocked card (blocked by the story or by staff in the
pages meanwhile), and the money check:

    issued + topped up - charges - left on replaced cards = balances of the cards in use

where *issued* is what the registry issued every card with (a duplicate
the balance it took over from the lost card), *topped up* the top-ups
collected by the cards, and a replaced card's chip, denied everywhere, keeps
money that no longer counts (its duplicate holds it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from card_layout.keys import MasterKeys
from card_layout.operations.state import read_card
from device.journal import EntryState, Journal
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from sync_server.store import SyncStore
from validator.outcome import Reason

from ..views import money
from .fleet import Fleet
from .riders import Rider


@dataclass
class Check:
    ok: bool
    text: str
    detail: list[str]


@dataclass(frozen=True)
class Entry:
    device_id: int
    card_number: int | None
    amount_cents: int
    state: EntryState
    reason: str


def wait_for_sync(fleet: Fleet, timeout: float, check: Callable[[], None]) -> float:
    """Wait until every journal entry is acknowledged (or ``timeout`` seconds); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and fleet.journals_backlog():
        check()
        time.sleep(0.01)
    return time.monotonic() - started


def entries(journal: Journal, device_id: int) -> list[Entry]:
    """Every entry of ``journal`` (the demo prunes nothing)."""
    return [Entry(device_id, e.card_number, e.amount_cents, e.state, e.reason)
            for e in map(journal.entry, range(1, journal.last_seq() + 1))]


def read_chip(rider: Rider, keys: MasterKeys) -> tuple[int, int]:
    """``(balance_cents, counter)`` on ``rider``'s card, read as a validator reads it."""
    field = SimField()
    field.place(rider.chip)
    try:
        state = read_card(SimReader(field=field), keys)
    finally:
        field.take()
    return state.balance_cents, state.counter


def end_checks(fleet: Fleet, store: SyncStore, riders: Iterable[Rider], keys: MasterKeys, waited: float) -> list[Check]:
    """The checks, after :func:`wait_for_sync` waited ``waited`` seconds.
    ``keys``: the validators' subset of the issuer's keys (enough to read a card)."""
    riders = list(riders)
    journals = {device_id: app.engine.journal for device_id, app in fleet.apps.items()}
    written = {device_id: entries(journal, device_id) for device_id, journal in journals.items()}
    everything = [entry for device in written.values() for entry in device]
    backlog = fleet.journals_backlog()
    per_device = ", ".join(f"{device_id}: {len(e)}" for device_id, e in written.items())
    checks = [Check(backlog == 0, f"every journal entry acknowledged by the server ({len(everything)} entries: "
                                  f"{per_device}; {waited:.2f} s after the last tap)"
                                  + (f": {backlog} NOT acknowledged" if backlog else ""), [])]
    held = store.transaction_count()
    checks.append(Check(held == len(everything), f"the server holds {held} transactions, "
                        + ("one per journal entry" if held == len(everything) else
                           f"for {len(everything)} journal entries"), []))
    chips = {rider.index: read_chip(rider, keys) for rider in riders}
    checks.append(_shadows(store, riders, chips))
    anomalies = store.anomalies()
    checks.append(Check(not anomalies, f"anomalies flagged by the server's reconciliation: {len(anomalies)}",
                        [f"{a.kind} card {a.card_number} device {a.device_id} seq {a.seq}: {a.detail}"
                         for a in anomalies]))
    checks.append(_blocked(everything, riders))
    checks.append(_money(everything, riders, chips))
    return checks


def _shadows(store: SyncStore, riders: list[Rider], chips: dict[int, tuple[int, int]]) -> Check:
    detail, wrong = [], 0
    for rider in riders:
        balance, counter = chips[rider.index]
        shadow = store.shadow(rider.number)
        if shadow is None:  # no tap of it reached the server: it must be as issued
            ok, server = balance == rider.issued_cents, "never tapped"
        else:
            ok, server = shadow == (counter, balance), f"server {money(shadow[1])} at counter {shadow[0]}"
        wrong += not ok
        if len(riders) <= 10 or not ok:
            detail.append(f"{rider.label()}: card {money(balance)} at counter {counter}, {server}"
                          + ("  MISMATCH" if not ok else "") + ("  (replaced)" if rider.replaced else ""))
    return Check(wrong == 0, f"the server's shadow balance and counter of every card match the card "
                             f"({len(riders) - wrong} of {len(riders)})", detail)


def _blocked(everything: list[Entry], riders: list[Rider]) -> Check:
    blocked = [e for e in everything if e.reason == Reason.BLOCKED.value]
    moved = [e for e in blocked if e.amount_cents]
    labels = {rider.number: rider.label() for rider in riders}
    cards = sorted({labels.get(e.card_number, str(e.card_number)) for e in blocked})
    return Check(not moved, f"denied taps of blocked cards: {len(blocked)}"
                            + (f" ({', '.join(cards)})" if cards else "")
                            + (", none moved money" if not moved else f", {len(moved)} MOVED money"),
                 [f"device {e.device_id} card {e.card_number}: {money(e.amount_cents)}" for e in moved])


def _money(everything: list[Entry], riders: list[Rider], chips: dict[int, tuple[int, int]]) -> Check:
    done = [e.amount_cents for e in everything if e.state is EntryState.DONE]
    topped_up = sum(amount for amount in done if amount > 0)
    charged = -sum(amount for amount in done if amount < 0)
    issued = sum(rider.issued_cents for rider in riders)
    left = sum(chips[rider.index][0] for rider in riders if rider.replaced)
    balances = sum(chips[rider.index][0] for rider in riders if not rider.replaced)
    return Check(issued + topped_up - charged - left == balances,
                 f"money check: issued {money(issued)} + topped up {money(topped_up)} - charges {money(charged)} "
                 f"- left on replaced cards {money(left)} = balances {money(balances)}", [])


def show(checks: list[Check], echo: Callable[[str], None]) -> None:
    """Print ``checks``, one line each (and their detail below)."""
    echo("checks:")
    for check in checks:
        echo(f"  {'✓' if check.ok else '✗'} {check.text}")
        for line in check.detail:
            echo(f"      {line}")
