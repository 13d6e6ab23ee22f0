"""Benchmark of the reader backends, side by side in one run.

For each backend (sim; pcsc through a private pcscd + vsmartcard's vpcd + our
virtual card; pn532 and nfcpy on the PN532 emulator's pty), with the card
selected and sector 1 authenticated:

- *bare*: the emulator's round trip for one block read, sent with the least
  code possible (the simulated chip called directly; one raw APDU through
  pyscard; one raw PN532 frame written to the pty and its answer read back);
- *ours*: the same read through our Reader; the difference is the host
  overhead our backend adds per card command (aim: under 0.5 ms everywhere);
- *tap*: a whole bus debit through the backend (select, read and verify,
  debit with the trip state: 20 card commands).

    ./dev bench readers [--ops 2000] [--taps 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import serial
from smartcard.System import readers as pcsc_readers

from card_layout.access import KeyType
from card_layout.keys import MasterKeys
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import open_channel, read_state
from card_layout.operations.transaction import debit
from card_layout.records.identity import CardKind, FareProfile, Identity
from card_layout.records.transaction import TripState
from hardware.nfcpy_reader import NfcpyReader
from hardware.pcsc.pcscd import Pcscd
from hardware.pcsc.reader import PcscReader
from hardware.pcsc.vcard import VirtualCard
from hardware.pn532.emulator import Pn532Emulator
from hardware.pn532.frames import ACK, TFI_HOST, encode_information
from hardware.pn532.reader import Pn532Reader
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader

MASTERS = MasterKeys(key_a=b"\x0a" * 16, mac=b"\x0c" * 16, key_b=b"\x0b" * 16)
VALIDATOR = MASTERS.validator_subset()
UID = bytes.fromhex("A1B2C3D4")
IDENTITY = Identity(6033000000000001, "ESGIJ", CardKind.CITIZEN, FareProfile.GENERAL, dt.date(2026, 11, 1),
                    dt.date(2031, 11, 1), 1)
AT = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
BLOCK = 4  # identity, sector 1
SECTOR_KEY = MASTERS.for_card(UID).sector_key(1, KeyType.A)
AIM_US = 500.0


@dataclass
class Figures:
    bare_us: float
    ours_us: float
    tap_ms: float

    @property
    def overhead_us(self) -> float:
        return self.ours_us - self.bare_us


def _median_us(ops: int, call: Callable[[], object]) -> float:
    samples = []
    for _ in range(ops):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def _issued_field() -> SimField:
    card = SimulatedCard.blank(UID)
    personalise(SimReader(card), MASTERS, Issuance(IDENTITY, 2**31 - 1_000_000, issued_at=AT))
    return SimField(card)


def _ours(reader: Reader, ops: int, taps: int) -> tuple[float, float]:
    """Our read with sector 1 authenticated, then whole taps."""
    reader.wait_for_card(10.0)
    reader.authenticate(BLOCK, KeyType.A, SECTOR_KEY)
    ours = _median_us(ops, lambda: reader.read_block(BLOCK))

    def tap() -> None:
        ch = open_channel(reader, VALIDATOR)
        debit(ch, read_state(ch), 150, trip=TripState(AT, AT, 12, 1, 0))

    return ours, _median_us(taps, tap) / 1000


# -- one context per backend: (bare read factory, our reader factory) ----------------------------


@contextmanager
def _sim(field: SimField) -> Iterator[tuple[Callable[[], Callable[[], object]], Callable[[], Reader]]]:
    def bare() -> Callable[[], object]:
        card = field.single()
        card.uid()
        card.authenticate(BLOCK, KeyType.A, SECTOR_KEY)
        return lambda: card.read_block(BLOCK)

    yield bare, lambda: SimReader(field=field)


@contextmanager
def _pcsc(field: SimField) -> Iterator[tuple[Callable[[], Callable[[], object]], Callable[[], Reader]]]:
    with ExitStack() as stack:
        daemon = stack.enter_context(Pcscd())
        daemon.start()
        stack.enter_context(VirtualCard(field, daemon.port, reader_name=daemon.reader_name).start())
        connections: list = []

        def bare() -> Callable[[], object]:
            device = next(r for r in pcsc_readers() if str(r) == daemon.reader_name)
            deadline = time.monotonic() + 10
            connection = device.createConnection()
            while True:  # pcscd notices the card within its 0.4 s polling period
                try:
                    connection.connect()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            connections.append(connection)
            connection.transmit([0xFF, 0x82, 0x00, 0x00, 0x06, *SECTOR_KEY])
            connection.transmit([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, BLOCK, 0x60, 0x00])
            apdu = [0xFF, 0xB0, 0x00, BLOCK, 0x10]
            return lambda: connection.transmit(apdu)

        def ours() -> Reader:
            for connection in connections:
                connection.disconnect()
                connection.release()
            return PcscReader(daemon.reader_name).open(timeout=10.0)

        yield bare, ours


def _pn53x(make_reader: Callable[[str], Reader]):
    @contextmanager
    def backend(field: SimField) -> Iterator[tuple[Callable[[], Callable[[], object]], Callable[[], Reader]]]:
        emulator = Pn532Emulator(field).start()
        lines: list[serial.Serial] = []
        try:
            def bare() -> Callable[[], object]:
                # our reader wakes the chip and configures it, then lets go of the port (switching RF off)
                make_reader(emulator.port).close()
                line = serial.Serial(emulator.port, 115200, timeout=1.0)
                lines.append(line)
                for command in (bytes([0x4A, 0x01, 0x00]),  # InListPassiveTarget: select the card
                                bytes([0x40, 0x01, 0x60, BLOCK, *SECTOR_KEY, *UID])):  # InDataExchange: AUTH A
                    line.write(encode_information(TFI_HOST, command))
                    time.sleep(0.05)
                    line.reset_input_buffer()
                frame = encode_information(TFI_HOST, bytes([0x40, 0x01, 0x30, BLOCK]))  # InDataExchange: READ
                answer = len(ACK) + len(encode_information(0xD5, bytes([0x41, 0x00]) + bytes(16)))

                def read() -> bytes:
                    line.write(frame)
                    data = line.read(answer)
                    if len(data) != answer or data[len(ACK) + 7] != 0x00:
                        raise SystemExit(f"bare PN532 read failed: {data.hex()}")
                    return data

                return read

            def ours() -> Reader:
                for line in lines:
                    line.close()
                return make_reader(emulator.port)

            yield bare, ours
        finally:
            emulator.stop()

    return backend


BACKENDS = {
    "sim": _sim,
    "pcsc": _pcsc,
    "pn532": _pn53x(lambda port: Pn532Reader(port, timeout=0.5)),
    "nfcpy": _pn53x(lambda port: NfcpyReader(f"tty:{port}", timeout=0.5)),
}


def measure(name: str, ops: int, taps: int) -> Figures:
    with BACKENDS[name](_issued_field()) as (bare_factory, reader_factory):
        bare_us = _median_us(ops, bare_factory())
        reader = reader_factory()
        try:
            ours_us, tap_ms = _ours(reader, ops, taps)
        finally:
            reader.close()
    return Figures(bare_us, ours_us, tap_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="block reads per figure (default 2000)")
    parser.add_argument("--taps", type=int, default=200, help="whole bus debits per backend (default 200)")
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS), help="only these backends")
    args = parser.parse_args()
    names = args.backend or list(BACKENDS)
    print(f"reader backends: one block read ({args.ops} per figure, median), a whole bus debit "
          f"(20 card commands, {args.taps} taps, median)")
    print(f"{'backend':<8} {'bare round trip':>16} {'ours':>10} {'overhead':>10} {'ratio':>7} {'bus debit':>10}")
    met = True
    for name in names:
        f = measure(name, args.ops, args.taps)
        met &= f.overhead_us < AIM_US
        print(f"{name:<8} {f.bare_us:13.1f} us {f.ours_us:7.1f} us {f.overhead_us:7.1f} us "
              f"{f.ours_us / f.bare_us:6.2f}x {f.tap_ms:7.2f} ms")
    print(f"aim (host overhead < {AIM_US:.0f} us per command on every backend): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
