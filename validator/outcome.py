"""What a tap decides: the decision, its reason code, and the rider's words.

Every outcome has a reason code, journaled and shown on the JSON of
``citizencard validator tap``; ``may_go`` says whether the rider passes
(approved, or already validated by an earlier tap)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Decision(enum.StrEnum):
    APPROVED = "approved"
    ALREADY_VALIDATED = "already_validated"
    DENIED = "denied"


class Reason(enum.StrEnum):
    APPROVED = "approved"
    TRANSFER = "transfer"                    # free transfer within the window
    PASS = "pass"                            # a season pass covers the ride
    CAPPED = "capped"                        # daily or monthly cap reached: free
    FREE_FARE = "free_fare"                  # the profile rides free
    ALREADY_VALIDATED = "already_validated"  # a second tap within the window: never a second charge
    RENTAL_STARTED = "rental_started"
    RENTAL_ENDED = "rental_ended"
    CHARGE_STARTED = "charge_started"
    CHARGE_ENDED = "charge_ended"
    LOAD_APPLIED = "load_applied"            # a pending top-up was collected (journaled on its own)
    BLOCKED = "blocked"                      # on the deny-list
    EXPIRED = "expired"
    WRONG_KIND = "wrong_kind"                # this card kind may not use this service
    INSUFFICIENT_FUNDS = "insufficient_funds"
    NOT_ENTITLED = "not_entitled"            # no valid bike / EV contract
    RENTAL_OPEN = "rental_open"              # a bike or a charge is already open on the card
    NO_BIKE_DOCKED = "no_bike_docked"        # returning: dock the bike first
    NO_BIKE_AVAILABLE = "no_bike_available"
    DEVICE_FAULT = "device_fault"            # the dock or charger failed
    INTEGRITY_FAILURE = "integrity_failure"  # forged, tampered or foreign card
    TORN_RETRY = "torn_retry"                # card pulled away mid-write: tap again
    CARD_UNREADABLE = "card_unreadable"
    MULTIPLE_CARDS = "multiple_cards"
    JOURNAL_FULL = "journal_full"            # out of service until storage is freed
    OUT_OF_SERVICE = "out_of_service"
    NO_CARD = "no_card"                      # nobody tapped within the wait


RIDER_WORDS: dict[Reason, str] = {
    Reason.APPROVED: "Approved",
    Reason.TRANSFER: "Transfer",
    Reason.PASS: "Pass valid",
    Reason.CAPPED: "Capped: free",
    Reason.FREE_FARE: "Approved",
    Reason.ALREADY_VALIDATED: "Already validated",
    Reason.RENTAL_STARTED: "Take your bike",
    Reason.RENTAL_ENDED: "Bike returned",
    Reason.CHARGE_STARTED: "Charging",
    Reason.CHARGE_ENDED: "Charge ended",
    Reason.LOAD_APPLIED: "Top-up added",
    Reason.BLOCKED: "Card blocked",
    Reason.EXPIRED: "Card expired",
    Reason.WRONG_KIND: "Not valid here",
    Reason.INSUFFICIENT_FUNDS: "Insufficient funds",
    Reason.NOT_ENTITLED: "No valid contract",
    Reason.RENTAL_OPEN: "Rental already open",
    Reason.NO_BIKE_DOCKED: "Dock the bike first",
    Reason.NO_BIKE_AVAILABLE: "No bike here",
    Reason.DEVICE_FAULT: "Out of order",
    Reason.INTEGRITY_FAILURE: "Card not valid",
    Reason.TORN_RETRY: "Tap again",
    Reason.CARD_UNREADABLE: "Tap again",
    Reason.MULTIPLE_CARDS: "One card only",
    Reason.JOURNAL_FULL: "Out of service",
    Reason.OUT_OF_SERVICE: "Out of service",
    Reason.NO_CARD: "Present card",
}


@dataclass(frozen=True)
class TapResult:
    decision: Decision
    reason: Reason
    amount_cents: int = 0           # charged on this tap (>= 0)
    balance_cents: int | None = None
    card_number: int | None = None
    uid: bytes | None = None
    journal_seq: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def may_go(self) -> bool:
        return self.decision is not Decision.DENIED

    @property
    def words(self) -> str:
        return RIDER_WORDS[self.reason]

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reason": self.reason.value,
            "amount_cents": self.amount_cents,
            "balance_cents": self.balance_cents,
            "card_number": self.card_number,
            "uid": None if self.uid is None else self.uid.hex().upper(),
            "journal_seq": self.journal_seq,
            "message": self.words,
            **({"details": self.details} if self.details else {}),
        }
