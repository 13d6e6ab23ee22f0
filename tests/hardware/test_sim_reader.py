"""SimReader: the ClassicReader protocol over a simulated card, and a dump
file that always holds the card as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardRemovedError
from card_layout.reader import ClassicReader
from card_layout.trailer import TRANSPORT_KEY
from card_layout.value_block import ValueBlock
from hardware.errors import DumpError
from hardware.sim import reader as reader_module
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import load_dump, save_dump
from hardware.sim.reader import SimReader
from tests.builders import UID, blank_image, block_of, value_block, with_block

A = KeyType.A
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every image SimReader saves, in order (the save still happens)."""
    saved: list[bytes] = []
    real_save = reader_module.save_dump

    def spy(path: Path, image: bytes) -> None:
        saved.append(image)
        real_save(path, image)

    monkeypatch.setattr(reader_module, "save_dump", spy)
    return saved


def test_is_a_classic_reader() -> None:
    assert isinstance(SimReader(SimulatedCard.blank(UID)), ClassicReader)


def test_commands_reach_the_card_and_its_log() -> None:
    card = SimulatedCard(with_block(blank_image(), 4, value_block(100, 4)))
    reader = SimReader(card)

    assert reader.uid() == UID
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.increment(4, 5)
    reader.transfer(5)
    reader.decrement(5, 1)
    reader.transfer(6)
    reader.restore(4)
    reader.transfer(4)
    reader.write_block(6, b"sixteen bytes!!!")
    assert reader.read_block(5) == value_block(105, 4)
    assert reader.read_block(6) == b"sixteen bytes!!!"
    assert reader.card is card
    assert [record.command for record in card.log] == [
        "uid", "authenticate", "increment", "transfer", "decrement", "transfer",
        "restore", "transfer", "write_block", "read_block", "read_block",
    ]  # fmt: skip


def test_card_errors_pass_through_unchanged() -> None:
    reader = SimReader(SimulatedCard.blank(UID))
    with pytest.raises(AuthenticationError) as info:
        reader.authenticate(8, A, bytes(6))
    assert info.value.block == 8
    with pytest.raises(CardAccessError):
        reader.read_block(8)


def test_from_dump_loads_the_card(dump_path: Path) -> None:
    reader = SimReader.from_dump(dump_path)
    assert reader.uid() == UID
    assert reader.card.image() == blank_image()
    assert reader.dump_path == dump_path


def test_from_dump_arms_the_tear(dump_path: Path) -> None:
    reader = SimReader.from_dump(dump_path, tear_after=2, torn_bytes=4)
    reader.uid()
    reader.authenticate(4, A, TRANSPORT_KEY)
    with pytest.raises(CardRemovedError):
        reader.write_block(4, b"WXYZ" + b"\xee" * 12)
    assert block_of(load_dump(dump_path), 4) == b"WXYZ" + bytes(12)


def test_from_dump_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="cannot read"):
        SimReader.from_dump(tmp_path / "absent.mfd")


def test_every_mutating_command_is_written_back(dump_path: Path, saves: list[bytes]) -> None:
    save_dump(dump_path, with_block(blank_image(), 4, value_block(100, 4)))
    reader = SimReader.from_dump(dump_path)
    reader.uid()
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.read_block(4)
    reader.decrement(4, 30)
    reader.restore(4)
    assert saves == []  # nothing changed memory yet

    reader.decrement(4, 30)
    reader.transfer(4)
    assert len(saves) == 1
    assert ValueBlock.decode(block_of(load_dump(dump_path), 4)).value == 70

    reader.write_block(5, b"written back....")
    assert len(saves) == 2
    assert load_dump(dump_path) == reader.card.image()


def test_refused_writes_do_not_touch_the_dump(dump_path: Path, saves: list[bytes]) -> None:
    reader = SimReader.from_dump(dump_path)
    reader.authenticate(0, A, TRANSPORT_KEY)
    with pytest.raises(CardAccessError):
        reader.write_block(0, bytes(16))
    assert saves == []
    assert load_dump(dump_path) == blank_image()


def test_a_torn_write_is_written_back_as_torn(dump_path: Path, saves: list[bytes]) -> None:
    reader = SimReader.from_dump(dump_path)
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.card.reset_tear(tear_after=0, torn_bytes=3)
    with pytest.raises(CardRemovedError):
        reader.write_block(5, b"ABCDEFGHIJKLMNOP")
    assert block_of(load_dump(dump_path), 5) == b"ABC" + bytes(13)
    assert len(saves) == 1


def test_a_torn_transfer_is_written_back_as_torn(dump_path: Path) -> None:
    save_dump(dump_path, with_block(blank_image(), 4, value_block(100, 4)))
    reader = SimReader.from_dump(dump_path)
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.decrement(4, 1)
    reader.card.reset_tear(tear_after=0, torn_bytes=1)
    with pytest.raises(CardRemovedError):
        reader.transfer(4)
    assert block_of(load_dump(dump_path), 4) == bytes([99]) + value_block(100, 4)[1:]


def test_a_tear_that_lands_nothing_saves_nothing(dump_path: Path, saves: list[bytes]) -> None:
    reader = SimReader.from_dump(dump_path, tear_after=1, torn_bytes=0)
    reader.authenticate(4, A, TRANSPORT_KEY)
    with pytest.raises(CardRemovedError):
        reader.write_block(5, b"ABCDEFGHIJKLMNOP")
    assert saves == []


def test_the_dump_can_be_tapped_again(dump_path: Path) -> None:
    first = SimReader.from_dump(dump_path)
    first.authenticate(8, A, TRANSPORT_KEY)
    first.write_block(9, b"left by tap one!")

    second = SimReader.from_dump(dump_path)
    second.authenticate(8, A, TRANSPORT_KEY)
    assert second.read_block(9) == b"left by tap one!"


def test_without_a_dump_path_nothing_is_saved(saves: list[bytes]) -> None:
    reader = SimReader(SimulatedCard.blank(UID))
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.write_block(4, bytes(range(16)))
    assert saves == []
    assert reader.dump_path is None


def test_a_killed_process_leaves_the_dump_as_the_card_is(dump_path: Path) -> None:
    script = f"""
import os, signal
from card_layout.access import KeyType
from card_layout.trailer import TRANSPORT_KEY
from hardware.sim.reader import SimReader

reader = SimReader.from_dump({str(dump_path)!r})
reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
reader.write_block(4, b"before the kill!")
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr.decode()
    assert block_of(load_dump(dump_path), 4) == b"before the kill!"
    assert sorted(p.name for p in dump_path.parent.iterdir()) == [dump_path.name]
