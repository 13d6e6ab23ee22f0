"""The EV charger's rules, decided offline from the card.

- **Start** (no session open): the holder needs an EV-charging contract valid
  today and a balance not below zero. The session is written on the card
  first, then the charger starts; a charger that fails is undone on the card.
- **Stop** (a charge open on the card, at this charger): the same card stops
  it; the energy delivered is priced per fare profile (free where the city
  says so) and journaled with the duration. A charge open at another charger
  must be stopped there. Like a bike return, a stop is never refused for lack
  of funds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from card_layout.operations.state import CardState
from card_layout.operations.transaction import SessionStart
from card_layout.records.contracts import ContractKind
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind
from card_layout.records.session import SessionKind

from .devices import Charger, DeviceError
from .fares import EvFares, FareTable
from .outcome import Decision, Reason
from .policy import Plan, TapContext, deny, holds


@dataclass
class EvPolicy:
    fares: EvFares
    charger: Charger
    mode: str = "ev"

    @property
    def kinds(self) -> frozenset[CardKind]:
        return self.fares.kinds

    def with_fares(self, table: FareTable) -> EvPolicy:
        return replace(self, fares=table.ev)

    def plan(self, state: CardState, ctx: TapContext) -> Plan:
        session = state.session if state.record.session_open else None
        if session is not None:
            if session.kind is not SessionKind.EV_CHARGING or session.asset != self.charger.charger_id:
                return deny(Reason.RENTAL_OPEN, "ev_start", open=session.kind.name.lower(), asset=session.asset)
            reading = self.charger.stop()
            charge = self.fares.price(reading.energy_wh, state.identity.profile)
            floor = min(-self.fares.negative_floor, state.balance_cents - charge)
            return Plan(Decision.APPROVED, Reason.CHARGE_ENDED, charge_cents=charge, write=True, close_session=True,
                        event=EventType.CHARGE_END, floor_cents=floor, kind="ev_end",
                        details={"charger": session.asset, "energy_wh": reading.energy_wh,
                                 "duration_s": reading.duration_s})
        if not holds(state, ContractKind.EV_CHARGING, ctx):
            return deny(Reason.NOT_ENTITLED, "ev_start")
        if state.balance_cents < 0:
            return deny(Reason.INSUFFICIENT_FUNDS, "ev_start")
        start = SessionStart(SessionKind.EV_CHARGING, ctx.now, ctx.operator, self.charger.charger_id, ctx.location)
        return Plan(Decision.APPROVED, Reason.CHARGE_STARTED, write=True, open_session=start,
                    event=EventType.CHARGE_START, kind="ev_start", details={"charger": self.charger.charger_id})

    def committed(self, plan: Plan, state: CardState, ctx: TapContext) -> Plan | None:
        if plan.open_session is None:
            return None
        try:
            self.charger.start(state.identity.card_number)
        except DeviceError as exc:
            return Plan(Decision.DENIED, Reason.DEVICE_FAULT, write=True, close_session=True,
                        event=EventType.CHARGE_END, kind="ev_start_failed", details={"error": str(exc)})
        return None
