"""The bike dock's rules, decided offline from the card.

- **Take** (no rental open): the holder needs a bike contract valid today
  and a balance not below zero; a bike must be docked here. The rental
  (bike, dock, start) is written on the card first, then the lock opens; a
  lock that fails is undone on the card at no charge.
- **Return** (a bike rental open on the card): the returned bike must be
  docked here (or, when the dock cannot read bike numbers, any bike). The
  rental is closed from the card's own data, so any dock, even offline,
  closes it; minutes beyond the free period are charged per started block
  (capped). A return is never refused for lack of funds: the charge may take
  the balance below zero and the next top-up settles it.
- **A second bike** while one is open is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from card_layout.operations.state import CardState
from card_layout.operations.transaction import SessionStart
from card_layout.records.contracts import ContractKind
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind
from card_layout.records.session import SessionKind

from .devices import DeviceError, Dock
from .fares import BikeFares, FareTable
from .outcome import Decision, Reason
from .policy import Plan, TapContext, deny, holds


@dataclass
class BikePolicy:
    fares: BikeFares
    dock: Dock
    mode: str = "bike"

    @property
    def kinds(self) -> frozenset[CardKind]:
        return self.fares.kinds

    def with_fares(self, table: FareTable) -> BikePolicy:
        return replace(self, fares=table.bike)

    def plan(self, state: CardState, ctx: TapContext) -> Plan:
        session = state.session if state.record.session_open else None
        docked = self.dock.docked_bike()
        if session is not None:
            if session.kind is not SessionKind.BIKE:
                return deny(Reason.RENTAL_OPEN, "bike_start", open=session.kind.name.lower())
            if docked is None:
                return deny(Reason.NO_BIKE_DOCKED, "bike_end", bike=session.asset)
            if docked not in (0, session.asset):
                return deny(Reason.RENTAL_OPEN, "bike_start", bike=session.asset)
            minutes = max(0, math.ceil((ctx.now - session.started).total_seconds() / 60))
            charge = self.fares.price(minutes, state.identity.profile)
            floor = min(-self.fares.negative_floor, state.balance_cents - charge)
            return Plan(Decision.APPROVED, Reason.RENTAL_ENDED, charge_cents=charge, write=True, close_session=True,
                        event=EventType.BIKE_END, floor_cents=floor, kind="bike_end",
                        details={"bike": session.asset, "from_station": session.station, "minutes": minutes})
        if not holds(state, ContractKind.BIKE, ctx):
            return deny(Reason.NOT_ENTITLED, "bike_start")
        if state.balance_cents < 0:
            return deny(Reason.INSUFFICIENT_FUNDS, "bike_start")
        if docked is None:
            return deny(Reason.NO_BIKE_AVAILABLE, "bike_start")
        start = SessionStart(SessionKind.BIKE, ctx.now, ctx.operator, docked, ctx.location)
        return Plan(Decision.APPROVED, Reason.RENTAL_STARTED, write=True, open_session=start,
                    event=EventType.BIKE_START, kind="bike_start", details={"bike": docked})

    def committed(self, plan: Plan, state: CardState, ctx: TapContext) -> Plan | None:
        if plan.open_session is None:
            return None
        try:
            self.dock.release()
        except DeviceError as exc:
            return Plan(Decision.DENIED, Reason.DEVICE_FAULT, write=True, close_session=True,
                        event=EventType.BIKE_END, kind="bike_start_failed", details={"error": str(exc)})
        return None
