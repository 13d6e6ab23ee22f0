"""`citizencard reader info` and `card wipe` as an operator runs them (sim backend;
the other backends are covered by the reader contract suite)."""

from __future__ import annotations

import json
from pathlib import Path


def test_reader_info_without_keys_cannot_read_our_mad(run, dump: Path) -> None:
    result = run("reader", "info", f"sim:{dump}", "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "card: UID 0A0B0C0D (MIFARE Classic 1K)" in result.output
    assert "MAD not readable with the public MAD key; give --keys" in result.output


def test_reader_info_with_keys_finds_our_application(run, dump: Path, keys_file: Path) -> None:
    result = run("reader", "info", f"sim:{dump}", "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["uid"], doc["citizen_card"]) == ("0A0B0C0D", True)


def test_reader_info_on_a_blank_card(run, tmp_path: Path, keys_file: Path) -> None:
    from hardware.sim.card import SimulatedCard
    from hardware.sim.dump import save_dump

    blank = tmp_path / "blank.mfd"
    save_dump(blank, SimulatedCard.blank(bytes.fromhex("01020304")).image())
    result = run("reader", "info", f"sim:{blank}", "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["citizen_card"] is None


def test_reader_info_bad_uri(run) -> None:
    result = run("reader", "info", "nosuch:thing")
    assert result.exit_code == 1
    assert "unknown reader scheme 'nosuch'" in result.output


def test_wipe_refuses_a_card_with_money_then_forced(run, dump: Path, keys_file: Path) -> None:
    before = dump.read_bytes()
    result = run("card", "wipe", dump, "--keys", keys_file)
    assert result.exit_code == 1
    assert "holds 12.50 EUR" in result.output
    assert dump.read_bytes() == before
    result = run("card", "wipe", dump, "--keys", keys_file, "--force")
    assert result.exit_code == 0, result.output
    from hardware.sim.card import SimulatedCard

    assert dump.read_bytes() == SimulatedCard.blank(bytes.fromhex("0A0B0C0D")).image()
    result = run("card", "issue", "--keys", keys_file, "--out", dump, "--uid", "0A0B0C0D", "--force")
    assert result.exit_code == 0, result.output
