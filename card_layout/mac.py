"""Record MACs: AES-CMAC under the card's MAC key, truncated to 8 bytes.

The MAC input binds the record to its card and its place in the card's
history, so a record copied to another card, replayed from an older state, or
spliced with another slot's value block does not verify::

    record type (1) || len(UID) (1) || UID || counter (4, big-endian)
    || len(bound) (1) || bound bytes (e.g. the purse value the record commits to)
    || record body

The key never leaves the device: cracking a card's Crypto1 keys gives an
attacker the card's bytes, not the ability to write a record that verifies.
"""

from __future__ import annotations

import hmac
import struct

from .errors import CardFormatError
from .keys import cmac

MAC_SIZE = 8


def record_mac(mac_key: bytes, record_type: int, uid: bytes, counter: int, body: bytes, bound: bytes = b"") -> bytes:
    """The 8-byte MAC of a record.

    :raises CardFormatError: for a counter or bound outside what the input encodes.
    """
    if not 0 <= counter <= 0xFFFFFFFF or len(bound) > 0xFF:
        raise CardFormatError(f"MAC input out of range: counter {counter}, {len(bound)} bound bytes")
    message = bytes([record_type, len(uid)]) + uid + struct.pack(">I", counter) + bytes([len(bound)]) + bound + body
    return cmac(mac_key, message)[:MAC_SIZE]


def mac_matches(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison, so timing does not leak how much of a forged MAC was right."""
    return hmac.compare_digest(expected, given)
