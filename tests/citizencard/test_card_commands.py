"""`citizencard card issue|show|verify` as an operator runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from card_layout.layout import IDENTITY_BLOCKS, PURSE_VALUE_BLOCKS


def _patched(path: Path, offset: int, xor: int = 0x01) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= xor
    out = path.with_name(f"patched-{offset}.mfd")
    out.write_bytes(bytes(data))
    return out


def test_issue_then_show_json(run, dump: Path, keys_file: Path) -> None:
    result = run("card", "show", dump, "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["uid"] == "0A0B0C0D"
    assert doc["card_number"] == 6033000000000042
    assert (doc["kind"], doc["profile"]) == ("citizen", "senior")
    assert doc["expires"] == "2030-06-30"
    assert doc["balance_cents"] == 1250
    assert doc["counter"] == 0
    assert doc["verified"] is True
    assert [s["area"] for s in doc["sectors"]][:3] == ["MAD", "identity", "purse"]
    assert doc["sectors"][2]["values"] == [{"block": 8, "value": 1250}, {"block": 9, "value": 1250}]
    assert doc["events"][0]["type"] == "issued"


def test_show_without_keys_decodes_but_does_not_verify(run, dump: Path) -> None:
    result = run("card", "show", dump)
    assert result.exit_code == 0, result.output
    assert "balance 12.50 EUR" in result.output
    assert "records NOT verified" in result.output
    assert "block  8: read A|B, write B, increment B, decrement/transfer/restore A|B" in result.output


def test_show_through_a_sim_reader_uri(run, dump: Path, keys_file: Path) -> None:
    result = run("card", "show", f"sim:{dump}", "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["balance_cents"] == 1250


def test_verify_a_genuine_card(run, dump: Path, keys_file: Path) -> None:
    for target in (dump, f"sim:{dump}"):
        result = run("card", "verify", target, "--keys", keys_file)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("genuine: card 6033000000000042")


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (IDENTITY_BLOCKS[0] * 16 + 3, "sector 1 block 4: identity record MAC does not verify"),
        (IDENTITY_BLOCKS[1] * 16 + 15, "sector 1 block 4: identity record MAC does not verify"),
        (PURSE_VALUE_BLOCKS[0] * 16, "sector 2 block 8: not a value block"),
        (PURSE_VALUE_BLOCKS[1] * 16 + 13, "sector 2 block 9: not a value block"),
        (12 * 16 + 20, "sector 3 block 12: no transaction record verifies"),
        (7 * 16 + 6, "sector 1 block 7: access bits"),  # inconsistent trailer
        (7 * 16 + 0, "sector 1 block 7: key A is not this card's derived key"),
        (1 * 16 + 5, "sector 0 block 1: MAD CRC"),
    ],
)
def test_verify_names_what_is_wrong_in_one_line(run, dump: Path, keys_file: Path, offset: int, reason: str) -> None:
    result = run("card", "verify", _patched(dump, offset), "--keys", keys_file)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("not genuine: ")
    assert reason in result.output


def test_verify_refuses_a_card_of_other_keys(run, dump: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.keys"
    run("keys", "init", other)
    result = run("card", "verify", dump, "--keys", other)
    assert result.exit_code == 1
    assert "not this card's derived key" in result.output


def test_a_validator_key_file_cannot_issue(run, tmp_path: Path) -> None:
    keys = tmp_path / "validator.keys"
    assert run("keys", "init", keys, "--role", "validator").exit_code == 0
    result = run("card", "issue", "--keys", keys, "--out", tmp_path / "x.mfd")
    assert result.exit_code == 1
    assert "key B master" in result.output
    assert not (tmp_path / "x.mfd").exists()


def test_issue_refuses_to_overwrite_a_card(run, dump: Path, keys_file: Path) -> None:
    before = dump.read_bytes()
    result = run("card", "issue", "--keys", keys_file, "--out", dump)
    assert result.exit_code == 1
    assert "exists" in result.output
    assert dump.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--balance", "12.345", "at most two decimals"),
        ("--balance", "-1", "non-negative"),
        ("--uid", "0A0B0C", "4-byte UID"),
        ("--uid", "zz", "not hexadecimal"),
        ("--city", "gijon", "UN/LOCODE"),
        ("--contract", "parking:2026-01-01", "KIND:FROM:UNTIL"),
        ("--contract", "flying:2026-01-01:2026-02-01", "unknown contract kind"),
        ("--contract", "bike:2026-02-01:2026-01-01", "before it starts"),
    ],
)
def test_issue_rejects_bad_options_clearly(run, keys_file: Path, tmp_path: Path, option: str, value: str,
                                           message: str) -> None:
    result = run("card", "issue", "--keys", keys_file, "--out", tmp_path / "x.mfd", option, value)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_issue_with_contracts(run, keys_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "pass.mfd"
    result = run("card", "issue", "--keys", keys_file, "--out", out, "--kind", "tourist",
                 "--contract", "transit_pass:2026-11-01:2026-11-30:1:30", "--contract", "museum:2026-11-01:2027-10-31",
                 "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [c["kind"] for c in doc["contracts"]] == ["transit_pass", "museum"]
    assert doc["kind"] == "tourist"


@pytest.mark.parametrize("size", [0, 1023, 4096])
def test_wrong_size_files_get_a_clear_error(run, keys_file: Path, tmp_path: Path, size: int) -> None:
    path = tmp_path / "bad.mfd"
    path.write_bytes(bytes(size))
    for args in (("show", path), ("verify", path, "--keys", keys_file)):
        result = run("card", *args)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert ("4K" if size == 4096 else f"{size}") in result.output


def test_missing_files_get_a_clear_error(run, keys_file: Path, tmp_path: Path) -> None:
    result = run("card", "verify", tmp_path / "nope.mfd", "--keys", keys_file)
    assert result.exit_code == 1
    assert "nope.mfd" in result.output
    result = run("card", "show", tmp_path / "nope.mfd", "--keys", tmp_path / "nokeys")
    assert result.exit_code == 1
    assert "keys init" in result.output


def test_issued_dump_is_private(dump: Path) -> None:
    assert os.stat(dump).st_mode & 0o077 == 0
