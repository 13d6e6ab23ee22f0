"""The tap engine: one pipeline for every validator app.

    wait for a card -> read and verify -> resolve this card's unfinished
    journal intents -> finish a commit torn after its commit point ->
    deny-list -> validity (expiry, kind) -> pending top-ups -> the app's
    policy -> journal intent -> card commit -> journal completion -> the
    app's device (bike lock, charger)

The deny-list, the pending top-ups and the fare table are written by the
sync agent's process while the validator runs. Pending top-ups are read from
the file at every tap; the deny-list (held in memory) and the fare table
(parsed once) are taken up again by :meth:`TapEngine.refresh` once the card
is read, before anything is decided, and while no card comes: a check of a
few microseconds unless the agent committed something since.

Every tap leaves a journal entry, denials included. Money moves only between
a durable journal intent and its completion: a crash or a card pulled away in
between leaves an intent, which the next read of that card resolves by its
transaction counter (the card holds the new counter: it was charged; it holds
the old one: it was not), so a tap is never charged twice and never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from card_layout.access import KeyType
from card_layout.errors import (
    CardAccessError,
    CardError,
    CardFormatError,
    CardIntegrityError,
    CardRemovedError,
    InsufficientFundsError,
)
from card_layout.keys import MasterKeys
from card_layout.layout import PURSE_SECTOR
from card_layout.operations.channel import CardChannel
from card_layout.operations.state import CardState, read_state
from card_layout.operations.transaction import EventInfo, commit, credit, retire_previous
from card_layout.records.event import EventType
from device.denylist import DenyList
from device.errors import DenyListError, JournalFullError, ListStoreError
from device.journal import Journal
from device.lists import PendingLoads
from hardware.errors import MultipleCardsError, ReaderTimeoutError
from hardware.reader import Reader

from .fare_source import FareSource
from .outcome import Decision, Reason, TapResult
from .policy import Plan, Policy, TapContext

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Torn(Exception):
    """The card left the field during a commit; the journal intent stays open."""

    def __init__(self, seq: int) -> None:
        super().__init__(seq)
        self.seq = seq


@dataclass
class TapEngine:
    reader: Reader
    masters: MasterKeys
    policy: Policy
    journal: Journal
    denylist: DenyList
    loads: PendingLoads | None
    device_id: int
    operator: int
    location: int
    tz: ZoneInfo
    clock: Callable[[], dt.datetime] = utc_now
    fares: FareSource | None = None
    """Where :attr:`policy`'s fare table comes from; ``None``: the table it was built with, for good."""

    def refresh(self) -> None:
        """Take up what the sync agent's process committed since the last
        look: the deny-list, and a newer fare table (the policy is then rebuilt
        with it, keeping its device). Cheap when nothing changed. A store that
        cannot be read is logged with its traceback and the validator goes on
        deciding with what it holds; the next call tries again.
        """
        try:
            self.denylist.refresh()
        except DenyListError:
            log.exception("the deny-list could not be read again; the list held stays in force")
        if self.fares is not None:
            try:
                table = self.fares.refresh()
            except ListStoreError:
                log.exception("the fare table could not be read again; the table held stays in force")
            else:
                if table is not None:
                    self.policy = self.policy.with_fares(table)

    def tap(self, *, card_timeout: float = 5.0, at: dt.datetime | None = None) -> TapResult:
        """Decide one tap. Never raises for what a card or a rider does; device
        failures other than the reader's are raised.

        :raises ReaderUnavailableError: when the reader is gone.
        """
        ctx = TapContext(at or self.clock(), self.tz, self.device_id, self.operator, self.location)
        try:
            uid = self.reader.wait_for_card(card_timeout)
        except ReaderTimeoutError:
            self.refresh()  # idle: take up updates now rather than when the next rider waits
            return TapResult(Decision.DENIED, Reason.NO_CARD)
        except MultipleCardsError:
            return self._record(ctx, None, None, Decision.DENIED, Reason.MULTIPLE_CARDS)
        ch = CardChannel(self.reader, self.masters.for_card(uid))
        try:
            state = read_state(ch)
        except CardRemovedError:
            return self._record(ctx, uid, None, Decision.DENIED, Reason.CARD_UNREADABLE)
        except (CardIntegrityError, CardFormatError, CardAccessError) as exc:
            # a forged, tampered, torn beyond repair or foreign card: the back office wants to know
            return self._record(ctx, uid, None, Decision.DENIED, Reason.INTEGRITY_FAILURE, error=str(exc))
        try:
            return self._decide(ch, state, ctx)
        except JournalFullError as exc:
            return TapResult(Decision.DENIED, Reason.JOURNAL_FULL, uid=uid, details={"error": str(exc)})
        except _Torn as torn:
            # the balance is unknown until the card is read again: the commit may or may not have landed
            return TapResult(Decision.DENIED, Reason.TORN_RETRY, 0, None, state.identity.card_number, uid, torn.seq,
                             {"intent": torn.seq})
        except CardRemovedError:
            # torn before any intent (while finishing an earlier commit): nothing moved, but the tap is journaled
            return self._record(ctx, uid, state, Decision.DENIED, Reason.TORN_RETRY)
        except CardError as exc:
            return self._record(ctx, uid, state, Decision.DENIED, Reason.CARD_UNREADABLE, error=str(exc))

    # -- the pipeline once the card is read -------------------------------------------------------

    def _decide(self, ch: CardChannel, state: CardState, ctx: TapContext) -> TapResult:
        self.refresh()  # a tap boundary: a card blocked a moment ago is refused, a new fare table applies whole
        number, uid = state.identity.card_number, state.uid
        self.journal.resolve(uid, state.counter)
        if state.purse.previous_still_valid:
            state = retire_previous(ch, state)
        blocked = self.denylist.is_denied(number, uid)
        if blocked is not None:
            return self._record(ctx, uid, state, Decision.DENIED, Reason.BLOCKED, block_reason=blocked)
        if ctx.local(ctx.now).date() > state.identity.expires:
            return self._record(ctx, uid, state, Decision.DENIED, Reason.EXPIRED)
        if state.identity.kind not in self.policy.kinds:
            return self._record(ctx, uid, state, Decision.DENIED, Reason.WRONG_KIND,
                                kind=state.identity.kind.name.lower())
        ch, state = self._collect_loads(ch, state, ctx)
        plan = self.policy.plan(state, ctx)
        if not plan.write:
            return self._record(ctx, uid, state, plan.decision, plan.reason, plan.kind, **plan.details)
        result, state = self._commit(ch, state, ctx, plan)
        if result.decision is not Decision.DENIED:
            compensation = self.policy.committed(plan, state, ctx)
            if compensation is not None:
                result, state = self._commit(ch, state, ctx, compensation)
        return result

    def _collect_loads(self, ch: CardChannel, state: CardState, ctx: TapContext) -> tuple[CardChannel, CardState]:
        """Top-ups bought online or at a kiosk, credited exactly once: the card
        records the sequence of the last load it took."""
        if self.loads is None:
            return ch, state
        loads = self.loads.for_card(state.identity.card_number, state.record.load_seq)
        if not loads:
            return ch, state
        total, last = sum(load.amount_cents for load in loads), max(load.load_seq for load in loads)
        ch = ch.with_key(PURSE_SECTOR, KeyType.B, loads[0].purse_key_b)
        seq = self.journal.begin(kind="load", uid=state.uid, card_number=state.identity.card_number,
                                 counter_before=state.counter, counter_after=state.counter + 1, amount_cents=total,
                                 details={"loads": [load.load_seq for load in loads]})
        try:
            state = credit(ch, state, total, load_seq=last,
                           event=EventInfo(EventType.LOAD_APPLIED, ctx.now, ctx.operator, ctx.device_id, ctx.location))
        except CardRemovedError as exc:
            raise _Torn(seq) from exc
        self.journal.complete(seq, balance_cents=state.balance_cents, decision=Decision.APPROVED.value,
                              reason=Reason.LOAD_APPLIED.value)
        self.loads.mark_applied(state.identity.card_number, last)
        return ch, state

    def _commit(self, ch: CardChannel, state: CardState, ctx: TapContext, plan: Plan) -> tuple[TapResult, CardState]:
        seq = self.journal.begin(kind=plan.kind, uid=state.uid, card_number=state.identity.card_number,
                                 counter_before=state.counter, counter_after=state.counter + 1,
                                 amount_cents=-plan.charge_cents, details=dict(plan.details))
        event = None if plan.event is None else EventInfo(plan.event, ctx.now, ctx.operator, ctx.device_id,
                                                          ctx.location)
        try:
            after = commit(ch, state, delta_cents=-plan.charge_cents, floor_cents=plan.floor_cents, trip=plan.trip,
                           caps=plan.caps, open_session=plan.open_session, close_session=plan.close_session,
                           event=event)
        except InsufficientFundsError:
            self.journal.abort(seq, reason=Reason.INSUFFICIENT_FUNDS.value)
            return self._result(state, Decision.DENIED, Reason.INSUFFICIENT_FUNDS, 0, seq, plan.details), state
        except CardRemovedError as exc:
            # the intent stays open: the next read of this card resolves it by its counter
            raise _Torn(seq) from exc
        self.journal.complete(seq, balance_cents=after.balance_cents, decision=plan.decision.value,
                              reason=plan.reason.value)
        return self._result(after, plan.decision, plan.reason, plan.charge_cents, seq, plan.details), after

    def _record(self, ctx: TapContext, uid: bytes | None, state: CardState | None, decision: Decision,
                reason: Reason, kind: str = "tap", **details: Any) -> TapResult:
        number = None if state is None else state.identity.card_number
        balance = None if state is None else state.balance_cents
        seq = self.journal.record(kind=kind if kind != "tap" else self.policy.mode, uid=uid, card_number=number,
                                  amount_cents=0, balance_cents=balance, decision=decision.value,
                                  reason=reason.value, details=details,
                                  counter_after=None if state is None else state.counter)
        return TapResult(decision, reason, 0, balance, number, uid, seq, details)

    @staticmethod
    def _result(state: CardState, decision: Decision, reason: Reason, charge: int, seq: int,
                details: dict[str, Any]) -> TapResult:
        return TapResult(decision, reason, charge, state.balance_cents, state.identity.card_number, state.uid, seq,
                         details)

