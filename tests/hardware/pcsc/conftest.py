"""Fixtures for the PC/SC tests: per test a fresh simulated field, the virtual
card that puts it in vpcd's reader, and a PcscReader on that reader. The one
private pcscd of the session is in tests/hardware/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware.pcsc.pcscd import Pcscd
from hardware.pcsc.vcard import VirtualCard
from hardware.sim.field import SimField


@pytest.fixture
def field() -> SimField:
    return SimField()


@pytest.fixture
def vcard(pcscd: Pcscd, field: SimField) -> Iterator[VirtualCard]:
    """The field in vpcd's reader; a failure of its thread fails the test at teardown."""
    card = VirtualCard(field, pcscd.port, reader_name=pcscd.reader_name).start()
    yield card
    card.stop()
