"""The rules that find impossible card histories among completed entries
(pure: the sync store reads the entries and records what they find).

- ``repeated_counter``: two writes left the same card counter (two cards with
  one history: a clone);
- ``counter_back``: a device's later entry (by seq) of a card has a lower
  counter than one of its earlier entries (a card restored from a copy);
- ``balance_above_shadow``: a write left more than the entry one counter
  below left plus what it moved (money created off the system).
"""

from __future__ import annotations

from typing import NamedTuple

Found = dict[tuple[str, int, int], tuple[int, str]]
"""(kind, device_id, seq) -> (card_number, detail) of anomalies found."""


class Reconciled(NamedTuple):
    """A completed entry with a card, a counter and a balance: what the
    rules compare (the columns of :attr:`sync_server.store.SyncStore._above`, in order)."""

    device_id: int
    seq: int
    card: int
    before: int | None  # counter_before: None for an entry that only read the card
    counter: int
    amount: int
    balance: int


def check_counters(found: Found, a: Reconciled, b: Reconciled) -> None:
    """The rules between two different entries of one card at the same or adjacent counters."""
    card = a.card
    if a.counter == b.counter:
        if a.before is not None and b.before is not None:  # two writes that left the same counter
            _add(found, "repeated_counter", a, card, f"counter {a.counter} also reached by device {b.device_id} "
                                                     f"seq {b.seq}")
            _add(found, "repeated_counter", b, card, f"counter {b.counter} also reached by device {a.device_id} "
                                                     f"seq {a.seq}")
    elif b.counter == a.counter + 1:
        _check_balance(found, card, a, b)
    elif a.counter == b.counter + 1:
        _check_balance(found, card, b, a)


def check_order(found: Found, card: int, history: list[Reconciled]) -> None:
    """counter_back over one device's entries of one card: an entry below the
    highest counter of the device's earlier entries (by seq) is flagged."""
    highest: Reconciled | None = None
    for entry in sorted(history, key=lambda e: e.seq):
        if highest is not None and entry.seq != highest.seq and entry.counter < highest.counter:
            _add(found, "counter_back", entry, card, f"counter {entry.counter} after counter {highest.counter} at "
                                                     f"seq {highest.seq} of the same device")
        if highest is None or entry.counter > highest.counter:
            highest = entry


def _check_balance(found: Found, card: int, before: Reconciled, entry: Reconciled) -> None:
    """Flag ``entry``, a write one counter above ``before``, if it left more
    than ``before`` left plus what ``entry`` moved."""
    if entry.before is not None and entry.balance > before.balance + entry.amount:
        _add(found, "balance_above_shadow", entry, card,
             f"balance {entry.balance} at counter {entry.counter}, but counter {before.counter} left "
             f"{before.balance} (device {before.device_id} seq {before.seq}) and the entry moved {entry.amount}")


def _add(found: Found, kind: str, entry: Reconciled, card: int, detail: str) -> None:
    found.setdefault((kind, entry.device_id, entry.seq), (card, detail))
