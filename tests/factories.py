"""Builders for tests: master keys, identities and issued simulated cards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from card_layout.keys import MasterKeys
from card_layout.operations.personalise import Issuance, personalise
from card_layout.records.contracts import Contract
from card_layout.records.identity import CardKind, FareProfile, Identity
from device import keystore
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.reader import SimReader

UID = bytes.fromhex("A1B2C3D4")
ISSUED_AT = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


def masters(seed: int = 1) -> MasterKeys:
    """Deterministic, distinct master secrets (never use such keys outside tests)."""
    return MasterKeys(
        key_a=bytes([seed, 0xA]) * 8,
        mac=bytes([seed, 0xC]) * 8,
        key_b=bytes([seed, 0xB]) * 8,
    )


def identity(**changes: object) -> Identity:
    fields: dict[str, object] = {
        "card_number": 6_0033_0000_0001,
        "city": "ESGIJ",
        "kind": CardKind.CITIZEN,
        "profile": FareProfile.GENERAL,
        "issued": dt.date(2026, 11, 2),
        "expires": dt.date(2031, 11, 2),
        "holder": 4242,
    }
    fields.update(changes)
    return Identity(**fields)  # type: ignore[arg-type]


def issued_card(
    balance_cents: int = 2000,
    *,
    uid: bytes = UID,
    keys: MasterKeys | None = None,
    contracts: tuple[Contract, ...] = (),
    **identity_changes: object,
) -> SimulatedCard:
    """A simulated card personalised with ``keys`` (default :func:`masters`), its command log cleared."""
    card = SimulatedCard.blank(uid)
    personalise(SimReader(card), keys or masters(), Issuance(identity(**identity_changes), balance_cents,
                                                             contracts, issued_at=ISSUED_AT))
    card.log.clear()
    return card


def validator_files(directory: Path, balance_cents: int = 1000, **identity_changes: object) -> SimulatedCard:
    """What a config with ``keys = "validator.keys"`` and ``reader =
    "sim:card.mfd"`` in ``directory`` needs: the validator's key file (the
    :func:`masters` subset, no key B) and an issued card as the dump the
    reader taps. Returns the card as written."""
    keystore.save(directory / "validator.keys", masters().validator_subset())
    card = issued_card(balance_cents, **identity_changes)
    save_dump(directory / "card.mfd", card.image())
    return card
