"""The reader contract rig: one fixture, one backend per parameter, each
through its real software stack (pcscd + vpcd, a PN532 emulator on a pty,
nfcpy on the same emulator) and all backed by the same simulated field, so the
same test places, removes and tears cards whatever the backend.

With ``CITIZENCARD_PHYSICAL_READER=URI`` a ``physical`` backend joins: a real
reader with a spare blank card (transport keys) held on it. Tests that need
the simulator's control of the field carry the ``sim_field`` mark and are not
collected for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from hardware.nfcpy_reader import NfcpyReader
from hardware.pcsc.pcscd import Pcscd
from hardware.pcsc.reader import PcscReader
from hardware.pcsc.vcard import VirtualCard
from hardware.pn532.emulator import Pn532Emulator
from hardware.pn532.reader import Pn532Reader
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from hardware.uri import open_reader
from tests.factories import UID

PHYSICAL = os.environ.get("CITIZENCARD_PHYSICAL_READER")
Opener = Callable[[SimField], tuple[Reader, Callable[[], None]]]


@dataclass
class Rig:
    """A backend under test and, except for a physical reader, the simulated
    field behind it."""

    name: str
    reader: Reader
    field: SimField | None = None
    cards: list[SimulatedCard] = dataclasses.field(default_factory=list)

    def place_blank(self, uid: bytes = UID) -> SimulatedCard | None:
        """A blank card in the field (for a physical reader: the one held there)."""
        if self.field is None:
            return None
        card = self.field.place(SimulatedCard.blank(uid))
        self.cards.append(card)
        return card

    def place(self, card: SimulatedCard) -> SimulatedCard:
        assert self.field is not None, "only a simulated field takes a given card"
        return self.field.place(card)

    def take(self) -> None:
        assert self.field is not None
        self.field.take()


def _sim(field_: SimField) -> tuple[Reader, Callable[[], None]]:
    return SimReader(field=field_), lambda: None


def _pn532(field_: SimField) -> tuple[Reader, Callable[[], None]]:
    emulator = Pn532Emulator(field_).start()
    return Pn532Reader(emulator.port, timeout=0.2), emulator.stop


def _nfcpy(field_: SimField) -> tuple[Reader, Callable[[], None]]:
    emulator = Pn532Emulator(field_).start()
    return NfcpyReader(f"tty:{emulator.port}", timeout=0.2), emulator.stop


def _pcsc(field_: SimField, pcscd: Pcscd) -> tuple[Reader, Callable[[], None]]:
    """The field in the session's pcscd (real pcscd + vsmartcard's vpcd + our virtual card)."""
    card = VirtualCard(field_, pcscd.port, reader_name=pcscd.reader_name).start()
    return PcscReader(pcscd.reader_name).open(timeout=5.0), card.stop


OPENERS: dict[str, Opener] = {"sim": _sim, "pn532": _pn532, "nfcpy": _nfcpy}
BACKENDS = ("sim", "pcsc", "pn532", "nfcpy")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rig" not in metafunc.fixturenames:
        return
    names = list(BACKENDS)
    if PHYSICAL and metafunc.definition.get_closest_marker("sim_field") is None:
        names.append("physical")
    metafunc.parametrize("rig", names, indirect=True)


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "physical":
        assert PHYSICAL is not None
        reader = open_reader(PHYSICAL)
        try:
            yield Rig("physical", reader)
        finally:
            reader.close()
        return
    sim_field = SimField()
    if request.param == "pcsc":
        reader, stop = _pcsc(sim_field, request.getfixturevalue("pcscd"))
    else:
        reader, stop = OPENERS[request.param](sim_field)
    try:
        yield Rig(request.param, reader, sim_field)
    finally:
        reader.close()
        stop()
