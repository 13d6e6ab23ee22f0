"""What an app decides for a card, before anything is written: the plan.

An app (bus, bike dock, EV charger) is a :class:`Policy`: from the verified
card state and the tap's context it makes a :class:`Plan` (decision, reason,
what to charge, what to write on the card). The engine does the rest the same
way for every app: journal intent, card commit, journal completion, feedback.
Policies never touch the card or the journal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from card_layout.operations.state import CardState
from card_layout.operations.transaction import SessionStart
from card_layout.records.contracts import ContractKind
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind
from card_layout.records.transaction import CapCounters, TripState

from .fares import FareTable
from .outcome import Decision, Reason


@dataclass(frozen=True)
class TapContext:
    now: dt.datetime           # aware
    tz: ZoneInfo               # fare days and months are local
    device_id: int
    operator: int
    location: int              # line, dock or site

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)


@dataclass(frozen=True)
class Plan:
    decision: Decision
    reason: Reason
    charge_cents: int = 0                  # what the card pays (>= 0)
    write: bool = False                    # commit a transaction on the card
    trip: TripState | None = None
    caps: CapCounters | None = None
    open_session: SessionStart | None = None
    close_session: bool = False
    event: EventType | None = None
    floor_cents: int = 0                   # lowest balance the charge may leave
    kind: str = "tap"                      # journal entry kind
    details: dict[str, Any] = field(default_factory=dict)


def holds(state: CardState, kind: ContractKind, ctx: TapContext) -> bool:
    """Whether the card holds a contract of ``kind`` valid today (local date)
    for this operator (operator 0 on a contract: any operator)."""
    today = ctx.local(ctx.now).date()
    return state.contracts is not None and any(
        c.operator in (0, ctx.operator) for c in state.contracts.valid(kind, today)
    )


def deny(reason: Reason, kind: str = "tap", **details: Any) -> Plan:
    return Plan(Decision.DENIED, reason, kind=kind, details=details)


class Policy(Protocol):
    """An app's rules. ``plan`` may ask the app's device (a dock, a charger)
    what it needs to know; ``committed`` runs once the card holds the plan."""

    mode: str
    kinds: frozenset[CardKind]

    def plan(self, state: CardState, ctx: TapContext) -> Plan: ...

    def with_fares(self, table: FareTable) -> Policy:
        """The same app, with the same device, under ``table`` (its own
        service's part): a new fare table at a tap boundary."""
        ...

    def committed(self, plan: Plan, state: CardState, ctx: TapContext) -> Plan | None:
        """After the commit: act (release a bike, start a charge). ``None`` when
        all went well; a compensating plan when the device failed."""
        ...
