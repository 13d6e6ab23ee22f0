"""Sealing records: the version byte, the MAC trailer, empty slots, and the
small field codecs (24-bit counters, dates, timestamps) the records share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..errors import CardFormatError, CardIntegrityError
from ..mac import MAC_SIZE, mac_matches, record_mac

RECORD_VERSION = 1
COUNTER_MAX = 0xFFFFFF  # 24-bit card transaction counter
DATE_EPOCH = dt.date(2000, 1, 1)
DATE_MAX = DATE_EPOCH + dt.timedelta(days=0xFFFF)


class RecordType:
    """Domain separation for MACs: a record of one type never verifies as another."""

    IDENTITY = 0x01
    TRANSACTION = 0x02
    SESSION = 0x03
    CONTRACTS = 0x04
    EVENT = 0x05


@dataclass(frozen=True)
class MacContext:
    """What a record's MAC is bound to besides its own bytes. ``mac_key`` is
    ``None`` when decoding without keys: nothing is verified then."""

    uid: bytes
    mac_key: bytes | None


def is_empty(data: bytes) -> bool:
    """A slot with no record: never written (all zero) or retired after a
    commit (its first block erased), either way version byte 0."""
    return data[0] == 0


def check_version(data: bytes, block: int | None, what: str) -> None:
    if data[0] != RECORD_VERSION:
        raise CardFormatError(
            f"{what} record version {data[0]} is not supported (this software reads {RECORD_VERSION})", block=block
        )


def seal(body: bytes, record_type: int, counter: int, ctx: MacContext, size: int, bound: bytes = b"") -> bytes:
    """``body`` padded with zeros to ``size - 8`` bytes, then its MAC."""
    if ctx.mac_key is None:
        raise CardFormatError("cannot write a record without the MAC key")
    free = size - MAC_SIZE - len(body)
    if free < 0:
        raise CardFormatError(f"record body of {len(body)} bytes does not fit {size - MAC_SIZE}")
    padded = body + bytes(free)
    return padded + record_mac(ctx.mac_key, record_type, ctx.uid, counter, padded, bound)


def unseal(data: bytes, record_type: int, counter: int, ctx: MacContext, block: int | None, what: str,
           bound: bytes = b"") -> bytes:
    """The record bytes without the MAC, after checking it.

    :raises CardIntegrityError: when the MAC does not verify.
    """
    body, mac = data[:-MAC_SIZE], data[-MAC_SIZE:]
    if ctx.mac_key is not None:
        expected = record_mac(ctx.mac_key, record_type, ctx.uid, counter, body, bound)
        if not mac_matches(expected, mac):
            raise CardIntegrityError(f"{what} record MAC does not verify", block=block)
    return body


def open_record(data: bytes, size: int, record_type: int, ctx: MacContext, block: int | None, what: str, *,
                counter: int | None = None, bound: bytes = b"") -> tuple[int, bytes]:
    """Check a record's length, version and MAC; return its counter and its
    bytes without the MAC. The counter is read from bytes 1..3 unless the
    record type binds a fixed one.

    :raises CardFormatError: for a wrong length or an unknown version.
    :raises CardIntegrityError: when the MAC does not verify.
    """
    if len(data) != size:
        raise CardFormatError(f"{what} record is {size} bytes, got {len(data)}", block=block)
    check_version(data, block, what)
    if counter is None:
        counter = from_u24(data[1:4])
    return counter, unseal(data, record_type, counter, ctx, block, what, bound)


def u24(value: int) -> bytes:
    if not 0 <= value <= COUNTER_MAX:
        raise CardFormatError(f"{value} does not fit 24 bits")
    return value.to_bytes(3, "big")


def from_u24(data: bytes) -> int:
    return int.from_bytes(data, "big")


def encode_date(day: dt.date | None) -> int:
    """Days since 2000-01-01 as 16 bits; 0 stands for 'no date'."""
    if day is None:
        return 0
    if not DATE_EPOCH < day <= DATE_MAX:
        raise CardFormatError(f"date {day} outside {DATE_EPOCH}..{DATE_MAX}")
    return (day - DATE_EPOCH).days


def decode_date(days: int) -> dt.date | None:
    return None if days == 0 else DATE_EPOCH + dt.timedelta(days=days)


def encode_time(moment: dt.datetime | None) -> int:
    """Whole seconds since the Unix epoch (UTC) as 32 bits; 0 stands for 'never'."""
    if moment is None:
        return 0
    if moment.tzinfo is None:
        raise CardFormatError("card timestamps must be timezone-aware")
    seconds = int(moment.timestamp())
    if not 0 < seconds <= 0xFFFFFFFF:
        raise CardFormatError(f"time {moment.isoformat()} does not fit a 32-bit card timestamp")
    return seconds


def decode_time(seconds: int) -> dt.datetime | None:
    return None if seconds == 0 else dt.datetime.fromtimestamp(seconds, dt.UTC)


def check_uint(name: str, value: int, bits: int) -> None:
    """:raises CardFormatError: when ``value`` does not fit an unsigned field of ``bits``."""
    if not 0 <= value < (1 << bits):
        raise CardFormatError(f"{name} {value} does not fit an unsigned {bits}-bit field")


def check_int(name: str, value: int, bits: int) -> None:
    """:raises CardFormatError: when ``value`` does not fit a signed field of ``bits``."""
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise CardFormatError(f"{name} {value} does not fit a signed {bits}-bit field")
