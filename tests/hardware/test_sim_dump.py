"""Dump files: exact 1K images in, atomic saves out, clear errors for the rest."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hardware.errors import DumpError, HardwareError
from hardware.sim import dump as dump_module
from hardware.sim.dump import load_dump, save_dump
from tests.builders import UID, blank_image, with_block

OTHER = with_block(blank_image(), 4, b"another card....")


def test_round_trip_is_byte_exact(tmp_path: Path) -> None:
    path = tmp_path / "card.mfd"
    save_dump(path, OTHER)
    assert path.read_bytes() == OTHER
    assert load_dump(path) == OTHER
    assert load_dump(str(path)) == OTHER


def test_loads_a_dump_written_by_another_tool(tmp_path: Path) -> None:
    path = tmp_path / "nfc-mfclassic.mfd"
    path.write_bytes(blank_image())
    image = load_dump(path)
    assert image[0:4] == UID
    assert image[48 + 6 : 48 + 9] == bytes.fromhex("FF0780")  # block 3: transport access bits


def test_new_dump_is_private_and_an_existing_dump_keeps_its_mode(tmp_path: Path) -> None:
    new = tmp_path / "new.mfd"
    save_dump(new, OTHER)
    assert stat.S_IMODE(new.stat().st_mode) == 0o600  # it holds the card's keys

    shared = tmp_path / "shared.mfd"
    shared.write_bytes(blank_image())
    shared.chmod(0o640)
    save_dump(shared, OTHER)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    assert shared.read_bytes() == OTHER


def test_missing_dump_keeps_the_os_error_as_cause(tmp_path: Path) -> None:
    path = tmp_path / "absent.mfd"
    with pytest.raises(DumpError, match=r"absent.mfd: cannot read") as info:
        load_dump(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert isinstance(info.value, HardwareError)


def test_directory_is_not_a_dump(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="cannot read") as info:
        load_dump(tmp_path)
    assert isinstance(info.value.__cause__, OSError)


def test_4k_dump_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "4k.mfd"
    path.write_bytes(bytes(4096))
    with pytest.raises(DumpError, match="a MIFARE Classic 4K dump, not 1K"):
        load_dump(path)


@pytest.mark.parametrize("size", [0, 320, 1023, 1025, 2048])
def test_other_sizes_are_named(tmp_path: Path, size: int) -> None:
    path = tmp_path / "odd.mfd"
    path.write_bytes(bytes(size))
    with pytest.raises(DumpError, match=f"odd.mfd: {size} bytes, a MIFARE Classic 1K dump is exactly 1024"):
        load_dump(path)


def test_saving_an_image_of_the_wrong_size_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "card.mfd"
    save_dump(path, OTHER)
    with pytest.raises(DumpError, match="1000 bytes"):
        save_dump(path, bytes(1000))
    assert path.read_bytes() == OTHER


def test_save_syncs_the_temporary_file_before_renaming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: os.PathLike[str] | str) -> None:
        assert Path(src).parent == tmp_path  # same directory: the rename is atomic
        assert Path(src).read_bytes() == OTHER
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(dump_module.os, "fsync", fsync)
    monkeypatch.setattr(dump_module.os, "replace", replace)
    save_dump(tmp_path / "card.mfd", OTHER)
    assert events == ["fsync-file", "replace", "fsync-dir"]


def test_a_failed_save_leaves_the_old_dump_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "card.mfd"
    save_dump(path, blank_image())

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dump_module.os, "replace", crash)
    with pytest.raises(DumpError, match="No space left on device") as info:
        save_dump(path, OTHER)

    assert isinstance(info.value.__cause__, OSError)
    assert path.read_bytes() == blank_image()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.mfd"]


def test_save_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="cannot write") as info:
        save_dump(tmp_path / "no" / "such" / "card.mfd", OTHER)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_stale_temporaries_of_a_killed_save_are_removed(tmp_path) -> None:
    import os
    import time

    from hardware.sim.dump import remove_stale_temporaries

    dump = tmp_path / "card.mfd"
    old = tmp_path / ".card.mfd.abc123.tmp"
    fresh = tmp_path / ".card.mfd.def456.tmp"
    other = tmp_path / ".other.mfd.abc123.tmp"
    for leftover in (old, fresh, other):
        leftover.write_bytes(b"x")
    past = time.time() - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert remove_stale_temporaries(dump) == 1
    assert not old.exists() and fresh.exists() and other.exists()
