"""The bus validator's rules, decided offline from the card.

In this order:

1. **Already validated**: a tap on the same line within
   ``already_validated_seconds`` of the last boarding is approved without a
   charge and without writing (a rider tapping twice, or a card pulled away
   after its commit and tapped again).
2. **Season pass**: a transit pass valid today (local date) for this
   operator (operator 0 on the pass: any) rides free; the trip is recorded.
3. **Transfer**: within ``transfer_minutes`` of the journey's first boarding,
   on another line, with transfers left: free.
4. **Fare** by fare profile, reduced by the caps: what was spent in the day
   (and month) of the last boarding counts when that day (month) is today's
   in local time, so caps reset at local midnight and at the month's end.
   Once a cap is reached, further rides that period are free.
5. **Balance**: the fare may take the balance down to ``-negative_floor``;
   below that the tap is denied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from card_layout.operations.state import CardState
from card_layout.records.contracts import ContractKind
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind
from card_layout.records.transaction import CapCounters, TripState

from .fares import BusFares, FareTable
from .outcome import Decision, Reason
from .policy import Plan, TapContext, deny, holds


@dataclass(frozen=True)
class BusPolicy:
    fares: BusFares
    mode: str = "bus"

    @property
    def kinds(self) -> frozenset[CardKind]:
        return self.fares.kinds

    def with_fares(self, table: FareTable) -> BusPolicy:
        return replace(self, fares=table.bus)

    def plan(self, state: CardState, ctx: TapContext) -> Plan:
        fares, now = self.fares, ctx.now
        trip, caps = state.record.trip, state.record.caps
        if trip.last_boarding is not None and trip.line == ctx.location and trip.operator == ctx.operator and \
                dt.timedelta(0) <= now - trip.last_boarding <= dt.timedelta(seconds=fares.already_validated_seconds):
            return Plan(Decision.ALREADY_VALIDATED, Reason.ALREADY_VALIDATED,
                        details={"boarded": trip.last_boarding.isoformat()})

        today = ctx.local(now).date()
        same_day = trip.last_boarding is not None and ctx.local(trip.last_boarding).date() == today
        same_month = trip.last_boarding is not None and \
            ctx.local(trip.last_boarding).date().replace(day=1) == today.replace(day=1)
        spent_day = caps.day_cents if same_day else 0
        spent_month = caps.month_cents if same_month else 0
        new_journey = TripState(now, now, ctx.location, ctx.operator, 0)

        if holds(state, ContractKind.TRANSIT_PASS, ctx):
            return self._ride(Reason.PASS, 0, new_journey, CapCounters(spent_day, spent_month))

        if trip.journey_start is not None and trip.line != ctx.location and trip.transfers < fares.max_transfers \
                and dt.timedelta(0) <= now - trip.journey_start <= dt.timedelta(minutes=fares.transfer_minutes):
            transfer = TripState(trip.journey_start, now, ctx.location, ctx.operator, trip.transfers + 1)
            return self._ride(Reason.TRANSFER, 0, transfer, CapCounters(spent_day, spent_month), EventType.TRANSFER)

        profile = state.identity.profile
        fare = fares.fare(profile)
        due = fare
        if fares.day_cap is not None:
            due = min(due, max(0, fares.day_cap(profile) - spent_day))
        if fares.month_cap is not None:
            due = min(due, max(0, fares.month_cap(profile) - spent_month))
        reason = Reason.APPROVED if due == fare else Reason.CAPPED
        if fare == 0:
            reason = Reason.FREE_FARE
        if due and state.balance_cents - due < -fares.negative_floor:
            return deny(Reason.INSUFFICIENT_FUNDS, fare_cents=due)
        return self._ride(reason, due, new_journey,
                          CapCounters(min(0xFFFF, spent_day + due), min(0xFFFFFF, spent_month + due)),
                          fare_cents=fare)

    def _ride(self, reason: Reason, charge: int, trip: TripState, caps: CapCounters,
              event: EventType = EventType.TRIP, **details: int) -> Plan:
        return Plan(Decision.APPROVED, reason, charge_cents=charge, write=True, trip=trip, caps=caps, event=event,
                    floor_cents=-self.fares.negative_floor, kind="bus", details={"line": trip.line, **details})

    def committed(self, plan: Plan, state: CardState, ctx: TapContext) -> Plan | None:
        return None
