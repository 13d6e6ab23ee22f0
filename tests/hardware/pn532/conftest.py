"""Fixtures for the PN532 tests: an emulator on a real pty with a card in its
field, and a Pn532Reader connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.pn532.emulator import Pn532Emulator
from hardware.pn532.reader import Pn532Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from tests.builders import UID, blank_image


@pytest.fixture
def card() -> SimulatedCard:
    """A factory-fresh card (transport keys)."""
    return SimulatedCard(blank_image(UID))


@pytest.fixture
def field(card: SimulatedCard) -> SimField:
    return SimField(card)


@pytest.fixture
def emulator(field: SimField, tmp_path: Path) -> Iterator[Pn532Emulator]:
    """A running emulator reachable at a stable link (``tmp_path/ttyPN532``), so
    it can be unplugged and plugged back; its own failure fails the test."""
    emulator = Pn532Emulator(field, link=tmp_path / "ttyPN532").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def reader(emulator: Pn532Emulator) -> Iterator[Pn532Reader]:
    """A connected reader with short timeouts, closed afterwards."""
    reader = Pn532Reader(emulator.port, timeout=0.2, ack_timeout=0.02)
    reader.connect()
    yield reader
    reader.close()
