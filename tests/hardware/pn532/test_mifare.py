"""MIFARE Classic over InDataExchange: the command bytes, the card check, and
which card error each PN532 status becomes."""

from __future__ import annotations

import pytest

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError, CardRemovedError
from hardware.pn532.chipset import PassiveTarget, status_error
from hardware.pn532.mifare import (
    DECREMENT,
    INCREMENT,
    RESTORE,
    CardRefusedError,
    authentication_command,
    card_error,
    check_classic_1k,
    value_command,
)
from tests.builders import UID, UID7


def test_command_bytes() -> None:
    key = bytes.fromhex("A0A1A2A3A4A5")
    assert authentication_command(7, KeyType.A, key, UID) == bytes.fromhex("6007A0A1A2A3A4A5C0FFEE42")
    # A 7-byte UID authenticates with its last 4 bytes.
    assert authentication_command(8, KeyType.B, key, UID7) == bytes.fromhex("6108A0A1A2A3A4A5C3D4E5F6")
    assert value_command(INCREMENT, 5, 0x01020304) == bytes.fromhex("C10504030201")
    assert value_command(DECREMENT, 5, 150) == bytes.fromhex("C00596000000")
    assert value_command(RESTORE, 6, 0) == bytes.fromhex("C20600000000")


def test_only_a_classic_1k_is_taken() -> None:
    check_classic_1k(PassiveTarget(1, 0x0004, 0x08, UID))
    check_classic_1k(PassiveTarget(1, 0x0044, 0x08, UID7))
    check_classic_1k(PassiveTarget(1, 0x0004, 0x88, UID))
    with pytest.raises(CardCommandError, match=r"ATQA 0002, SAK 18\) is a MIFARE Classic 4K"):
        check_classic_1k(PassiveTarget(1, 0x0002, 0x18, UID))
    with pytest.raises(CardCommandError, match="ISO/IEC 14443-4 card"):
        check_classic_1k(PassiveTarget(1, 0x0344, 0x20, UID7, b"\x75"))
    with pytest.raises(CardCommandError, match="Ultralight"):
        check_classic_1k(PassiveTarget(1, 0x0044, 0x00, UID7))


@pytest.mark.parametrize(
    ("status", "command", "idle", "expected"),
    [
        (0x01, "read_block", False, CardRemovedError),
        (0x02, "write_block", False, CardRemovedError),
        (0x14, "authenticate", False, AuthenticationError),
        (0x14, "authenticate", True, CardCommandError),
        (0x13, "read_block", False, CardAccessError),
        (0x13, "write_block", True, CardAccessError),
        (0x13, "decrement", False, CardRefusedError),
        (0x13, "transfer", False, CardRefusedError),
        (0x27, "read_block", False, CardCommandError),
    ],
)
def test_status_to_card_error(status: int, command: str, idle: bool, expected: type) -> None:
    error = card_error(status_error("InDataExchange", status), command, 9, idle=idle)
    assert type(error) is expected
    assert error is not None and (error.sector, error.block) == (2, 9)
    assert "block 9: " in str(error)


def test_a_refused_value_command_is_both_access_and_command_error() -> None:
    error = card_error(status_error("InDataExchange", 0x13), "increment", 5, idle=False)
    assert isinstance(error, CardAccessError) and isinstance(error, CardCommandError)


def test_reader_statuses_are_not_card_errors() -> None:
    assert card_error(status_error("InDataExchange", 0x10), "read_block", 4, idle=False) is None
    assert card_error(status_error("InDataExchange", 0x0E), "read_block", 4, idle=False) is None
