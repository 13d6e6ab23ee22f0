"""The key store file: private, well-formed, role-aware."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device import keystore
from device.errors import KeyStoreError


def test_round_trip_and_mode(tmp_path: Path) -> None:
    keys = keystore.generate("issuer")
    path = keystore.save(tmp_path / "k", keys)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keystore.load(path) == keys
    assert keystore.load(path, role="validator").key_b is None


def test_a_validator_file_has_no_key_b(tmp_path: Path) -> None:
    path = keystore.save(tmp_path / "v", keystore.generate("validator"))
    text = path.read_text()
    assert "key_b" not in text and 'role = "validator"' in text
    assert not keystore.load(path).can_credit


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = keystore.save(tmp_path / "k", keystore.generate())
    before = path.read_text()
    with pytest.raises(KeyStoreError, match="refusing to overwrite"):
        keystore.save(path, keystore.generate())
    assert path.read_text() == before


def test_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    path = keystore.save(tmp_path / "k", keystore.generate())
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        keystore.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml = = =", "not valid TOML"),
        ('format = 2\nkey_a = "00"', "unsupported key file format 2"),
        ('format = 1\nkey_a = "zz"\nmac = "00"', "key_a is not hexadecimal"),
        ('format = 1\nkey_a = "0011"\nmac = "00"', "key_a must be 16 bytes"),
        ("format = 1\nkey_a = 5", "key_a must be a string"),
        (f'format = 1\nkey_a = "{"11" * 16}"', "key_a and mac are required"),
        (f'format = 1\nkey_a = "{"11" * 16}"\nmac = "{"11" * 16}"', "must differ"),
    ],
)
def test_malformed_files_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "k"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyStoreError, match=message):
        keystore.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="citizencard keys init"):
        keystore.load(tmp_path / "missing")


def test_unknown_role() -> None:
    with pytest.raises(KeyStoreError, match="unknown role"):
        keystore.generate("driver")
