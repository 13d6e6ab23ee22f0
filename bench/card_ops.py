"""Benchmark of the card operations on the simulated card.

For issue, verify (read and verify), debit and credit, and a whole bus tap
(verify + debit with the trip state and an event): the card commands used and
the host time per operation, median and p99 over ``--ops`` operations. The
baseline, measured in the same run, is the simulator's bare command (an
authenticated block read): the ratio says how many bare commands' worth of
host time an operation costs. Aim: a bus debit with its trip-state update in
at most 12 card commands and under 1 ms of host time.

    ./dev bench card_ops [--ops 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

from card_layout.access import KeyType
from card_layout.keys import MasterKeys
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import open_channel, read_state
from card_layout.operations.transaction import EventInfo, credit, debit
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind, FareProfile, Identity
from card_layout.records.transaction import TripState
from hardware.sim.card import SimulatedCard
from hardware.sim.reader import SimReader

MASTERS = MasterKeys(key_a=b"\x0a" * 16, mac=b"\x0c" * 16, key_b=b"\x0b" * 16)
VALIDATOR = MASTERS.validator_subset()
IDENTITY = Identity(6033000000000001, "ESGIJ", CardKind.CITIZEN, FareProfile.GENERAL, dt.date(2026, 11, 1),
                    dt.date(2031, 11, 1), 1)
AT = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
BIG = 2**31 - 1_000_000


def _issued(balance: int) -> SimulatedCard:
    card = SimulatedCard.blank(bytes.fromhex("A1B2C3D4"))
    personalise(SimReader(card), MASTERS, Issuance(IDENTITY, balance, issued_at=AT))
    return card


def _measure(ops: int, prepare: Callable[[], object], operation: Callable[[object], object]) -> list[int]:
    """Nanoseconds per call of ``operation(prepare())``, preparation not timed."""
    samples = []
    for _ in range(ops):
        arg = prepare()
        start = time.perf_counter_ns()
        operation(arg)
        samples.append(time.perf_counter_ns() - start)
    return samples


def _commands(card: SimulatedCard, operation: Callable[[], object]) -> int:
    before = card.command_count
    operation()
    return card.command_count - before


def _stats(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000, help="operations per figure (default 10000)")
    ops = parser.parse_args().ops

    # Baseline: the simulator's bare command, an authenticated read.
    card = _issued(0)
    card.uid()
    card.authenticate(4, KeyType.A, MASTERS.for_card(card.uid()).sector_key(1, KeyType.A))
    baseline, _ = _stats(_measure(ops * 10, lambda: None, lambda _: card.read_block(4)))
    card.log.clear()

    rows: list[tuple[str, int, list[int]]] = []

    def blank() -> SimulatedCard:
        return SimulatedCard.blank(bytes.fromhex("A1B2C3D4"))

    def issue(card: SimulatedCard) -> None:
        personalise(SimReader(card), MASTERS, Issuance(IDENTITY, 1000, issued_at=AT))

    probe = blank()
    rows.append(("issue", _commands(probe, lambda: issue(probe)), _measure(ops, blank, issue)))

    card = _issued(BIG)
    reader = SimReader(card)
    def verify(_: object) -> None:
        read_state(open_channel(reader, VALIDATOR))

    rows.append(("verify", _commands(card, lambda: verify(None)), _measure(ops, lambda: None, verify)))

    trip = TripState(AT, AT, 12, 1, 0)

    def fresh(keys: MasterKeys):
        def prepare():
            ch = open_channel(reader, keys)
            return ch, read_state(ch)
        return prepare

    def do_debit(arg) -> None:
        debit(arg[0], arg[1], 150, trip=trip)

    rows.append(("debit + trip state", _commands(card, lambda: do_debit(fresh(VALIDATOR)())) - 13,
                 _measure(ops, fresh(VALIDATOR), do_debit)))
    def do_credit(arg) -> None:
        credit(arg[0], arg[1], 150)

    rows.append(("credit", _commands(card, lambda: do_credit(fresh(MASTERS)())) - 13,
                 _measure(ops, fresh(MASTERS), do_credit)))

    def tap(_: object) -> None:
        ch = open_channel(reader, VALIDATOR)
        debit(ch, read_state(ch), 150, trip=trip, event=EventInfo(EventType.TRIP, AT, 1, 7, 12))

    rows.append(("bus tap: verify + debit + event", _commands(card, lambda: tap(None)),
                 _measure(ops, lambda: None, tap)))

    print(f"card operations on the simulated card, {ops} operations per figure")
    print(f"baseline: bare sim command (authenticated read)   median {baseline:8.2f} us")
    for name, commands, samples in rows:
        median, p99 = _stats(samples)
        print(f"{name:<34} {commands:3d} commands   median {median:8.1f} us   p99 {p99:8.1f} us"
              f"   x{median / baseline:6.0f} baseline")
    debit_commands, debit_samples = rows[2][1], rows[2][2]
    median_ms = _stats(debit_samples)[0] / 1000
    met = debit_commands <= 12 and median_ms < 1
    print(f"aim (bus debit with trip state <= 12 commands, < 1 ms): {debit_commands} commands, "
          f"{median_ms:.3f} ms -> {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
