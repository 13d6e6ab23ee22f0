"""PC/SC part 3 pseudo-APDUs for a MIFARE Classic card, as an ACS ACR122U or
ACR1252U answers them: command records, their bytes, and what the status
words mean for the card layer. Pure: bytes in, typed records out, and back.

Commands, named as in the ACR122U Application Programming Interface (each
answers ``90 00`` on success, ``63 00`` when the operation failed, ``6A 81``
when the reader does not support the function)::

    Get Data (UID)          FF CA 00 00 00                          -> UID, SW
    Load Authentication Keys FF 82 00 <slot> 06 <key: 6>            -> SW
    Authentication          FF 86 00 00 05 01 00 <block> <60|61> <slot> -> SW
    Read Binary Blocks      FF B0 00 <block> 10                     -> 16 bytes, SW
    Update Binary Blocks    FF D6 00 <block> 10 <data: 16>          -> SW
    Value Block Operation   FF D7 00 <block> 05 <op> <value: 4>     -> SW
                            op 00 store, 01 increment, 02 decrement; the value
                            is signed 32-bit big-endian
    Read Value Block        FF B1 00 <block> 04                     -> value: 4, SW
    Restore Value Block     FF D7 00 <source> 02 03 <target>        -> SW
    Direct Transmit         FF 00 00 00 <Lc> <PN532 command>        -> PN532 answer, SW

Direct Transmit is used for one PN532 command only, InListPassiveTarget
(``D4 4A <MaxTg> <BrTy>`` -> ``D5 4B <NbTg> [<Tg> <SENS_RES: 2> <SEL_RES>
<NFCIDLength> <NFCID1>]...``), to count the cards in the field: the
pseudo-APDUs above talk to one card and hide a second one.

What ``63 00`` means, per command (:func:`check_response`):

- Authentication: the key was refused -> :class:`~card_layout.errors.AuthenticationError`;
- Read / Update Binary: the chip refused the access (access bits, no or another
  sector authenticated, block 0) -> :class:`~card_layout.errors.CardAccessError`;
- the value commands: ``63 00`` does not tell an access denial from a block
  that is not a valid value block (or a result out of range), so they raise
  :class:`ValueOperationError`, which is both a ``CardAccessError`` and a
  :class:`~card_layout.errors.CardCommandError`;
- Get Data: no card could be selected -> ``CardCommandError``;
- Load Authentication Keys, Direct Transmit: the reader itself refused ->
  :class:`~hardware.errors.ReaderProtocolError`.

``6A 81`` raises :class:`UnsupportedCommandError`; any other status word, or an
answer of the wrong length, :class:`~hardware.errors.ReaderProtocolError` with
the raw bytes in the message.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError
from card_layout.geometry import BLOCK_SIZE, BLOCKS
from card_layout.trailer import KEY_SIZE
from card_layout.value_block import VALUE_MAX, VALUE_MIN
from hardware.errors import ReaderProtocolError

CLA = 0xFF

SW_SUCCESS = 0x9000
SW_OPERATION_FAILED = 0x6300
SW_FUNCTION_NOT_SUPPORTED = 0x6A81

#: Volatile key slots of the reader ("key number" in the ACR122U API).
KEY_SLOTS = (0, 1)

#: ATR a PC/SC part 3 reader builds for a MIFARE Classic 1K (RID A0 00 00 03 06,
#: standard 03 = ISO 14443 A part 3, card name 00 01).
ATR_MIFARE_CLASSIC_1K = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

_AUTH_VERSION = 0x01
_RESTORE_MARKER = 0x03

#: UID lengths of ISO 14443 A (single, double, triple size).
UID_LENGTHS = (4, 7, 10)


class Ins(enum.IntEnum):
    """Instruction bytes of the pseudo-APDUs (class FF)."""

    DIRECT_TRANSMIT = 0x00
    LOAD_AUTHENTICATION_KEYS = 0x82
    GENERAL_AUTHENTICATE = 0x86
    READ_BINARY = 0xB0
    READ_VALUE_BLOCK = 0xB1
    GET_DATA = 0xCA
    UPDATE_BINARY = 0xD6
    VALUE_BLOCK = 0xD7


class ValueOp(enum.IntEnum):
    """``VB_OP`` of Value Block Operation."""

    STORE = 0x00
    INCREMENT = 0x01
    DECREMENT = 0x02


class UnsupportedCommandError(ReaderProtocolError):
    """The reader answered ``6A 81``: it does not support this function."""


class ValueOperationError(CardAccessError, CardCommandError):
    """A value command answered ``63 00``: the access bits forbid it, or the
    block is not a valid value block, or the result leaves 32 bits. The status
    word does not say which, so this is both a ``CardAccessError`` and a
    ``CardCommandError``."""


# -- helpers ---------------------------------------------------------------------


def _byte(name: str, value: int, low: int = 0, high: int = 0xFF) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


def _block(value: int) -> int:
    return _byte("block", value, 0, BLOCKS - 1)


def _apdu(ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    out = bytes([CLA, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        out += bytes([le])
    return out


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


# -- commands --------------------------------------------------------------------


@dataclass(frozen=True)
class GetUid:
    """Get Data, P1 00: the UID of the card the reader activated."""

    def encode(self) -> bytes:
        return _apdu(Ins.GET_DATA, 0x00, 0x00, le=0x00)


@dataclass(frozen=True)
class LoadKey:
    """Load Authentication Keys into volatile key slot ``slot`` (0 or 1).

    The key is left out of ``repr`` so that it never reaches a log.
    """

    slot: int
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _byte("key slot", self.slot, KEY_SLOTS[0], KEY_SLOTS[-1])
        if len(self.key) != KEY_SIZE:
            raise ValueError(f"a MIFARE Classic key is {KEY_SIZE} bytes, got {len(self.key)}")

    def encode(self) -> bytes:
        return _apdu(Ins.LOAD_AUTHENTICATION_KEYS, 0x00, self.slot, bytes(self.key))


@dataclass(frozen=True)
class GeneralAuthenticate:
    """Authentication of the sector of ``block`` with the key in ``slot``."""

    block: int
    key_type: KeyType
    slot: int

    def __post_init__(self) -> None:
        _block(self.block)
        _byte("key slot", self.slot, KEY_SLOTS[0], KEY_SLOTS[-1])
        if not isinstance(self.key_type, KeyType):
            raise ValueError(f"key type must be a KeyType, got {self.key_type!r}")

    def encode(self) -> bytes:
        data = bytes([_AUTH_VERSION, 0x00, self.block, self.key_type.value, self.slot])
        return _apdu(Ins.GENERAL_AUTHENTICATE, 0x00, 0x00, data)


@dataclass(frozen=True)
class ReadBinary:
    """Read Binary Blocks: one 16-byte block."""

    block: int

    def __post_init__(self) -> None:
        _block(self.block)

    def encode(self) -> bytes:
        return _apdu(Ins.READ_BINARY, 0x00, self.block, le=BLOCK_SIZE)


@dataclass(frozen=True)
class UpdateBinary:
    """Update Binary Blocks: write one 16-byte block."""

    block: int
    data: bytes

    def __post_init__(self) -> None:
        _block(self.block)
        if len(self.data) != BLOCK_SIZE:
            raise ValueError(f"a block is {BLOCK_SIZE} bytes, got {len(self.data)}")

    def encode(self) -> bytes:
        return _apdu(Ins.UPDATE_BINARY, 0x00, self.block, bytes(self.data))


@dataclass(frozen=True)
class ValueBlockOperation:
    """Value Block Operation: store ``value`` as a value block, or increment /
    decrement the value block in place (the reader sends the chip's
    increment or decrement, then transfer to the same block)."""

    block: int
    op: ValueOp
    value: int

    def __post_init__(self) -> None:
        _block(self.block)
        if not isinstance(self.op, ValueOp):
            raise ValueError(f"op must be a ValueOp, got {self.op!r}")
        if not isinstance(self.value, int) or not VALUE_MIN <= self.value <= VALUE_MAX:
            raise ValueError(f"value must be a signed 32-bit integer, got {self.value!r}")

    def encode(self) -> bytes:
        return _apdu(Ins.VALUE_BLOCK, 0x00, self.block, bytes([self.op]) + struct.pack(">i", self.value))


@dataclass(frozen=True)
class RestoreValueBlock:
    """Restore Value Block: copy value block ``source`` into ``target`` (same
    sector; the reader sends the chip's restore, then transfer)."""

    source: int
    target: int

    def __post_init__(self) -> None:
        _block(self.source)
        _block(self.target)

    def encode(self) -> bytes:
        return _apdu(Ins.VALUE_BLOCK, 0x00, self.source, bytes([_RESTORE_MARKER, self.target]))


@dataclass(frozen=True)
class ReadValueBlock:
    """Read Value Block: the signed 32-bit value of a value block."""

    block: int

    def __post_init__(self) -> None:
        _block(self.block)

    def encode(self) -> bytes:
        return _apdu(Ins.READ_VALUE_BLOCK, 0x00, self.block, le=4)


@dataclass(frozen=True)
class DirectTransmit:
    """Direct Transmit: a PN532 command passed through (ACR122U escape)."""

    payload: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.payload) <= 0xFF:
            raise ValueError(f"a Direct Transmit payload is 1..255 bytes, got {len(self.payload)}")

    def encode(self) -> bytes:
        return _apdu(Ins.DIRECT_TRANSMIT, 0x00, 0x00, bytes(self.payload))


Command = (
    GetUid
    | LoadKey
    | GeneralAuthenticate
    | ReadBinary
    | UpdateBinary
    | ValueBlockOperation
    | RestoreValueBlock
    | ReadValueBlock
    | DirectTransmit
)


def parse_command(apdu: bytes) -> Command:
    """The command record of a pseudo-APDU (what a reader emulator receives).

    :raises UnsupportedCommandError: for a class or instruction this module
        does not know (a reader answers ``6A 81``).
    :raises ReaderProtocolError: for a known instruction with bad parameters
        or a wrong length (a reader answers ``63 00``).
    """
    if len(apdu) < 5 or apdu[0] != CLA:
        raise UnsupportedCommandError(f"not a pseudo-APDU: {_hex(apdu)}")
    ins, p1, p2, lc = apdu[1], apdu[2], apdu[3], apdu[4]
    body = apdu[5:]
    try:
        if ins == Ins.GET_DATA and p1 == 0x00 and p2 == 0x00 and lc == 0x00 and not body:
            return GetUid()
        if ins == Ins.LOAD_AUTHENTICATION_KEYS and p1 == 0x00 and lc == KEY_SIZE == len(body):
            return LoadKey(p2, body)
        if ins == Ins.GENERAL_AUTHENTICATE and (p1, p2, lc, len(body)) == (0, 0, 5, 5):
            if body[0] != _AUTH_VERSION or body[1] != 0x00:
                raise ValueError(f"unknown authentication data version {body[0]:02X} {body[1]:02X}")
            return GeneralAuthenticate(body[2], KeyType(body[3]), body[4])
        if ins == Ins.READ_BINARY and p1 == 0x00 and lc == BLOCK_SIZE and not body:
            return ReadBinary(p2)
        if ins == Ins.UPDATE_BINARY and p1 == 0x00 and lc == BLOCK_SIZE == len(body):
            return UpdateBinary(p2, body)
        if ins == Ins.VALUE_BLOCK and p1 == 0x00 and lc == 5 == len(body):
            return ValueBlockOperation(p2, ValueOp(body[0]), struct.unpack(">i", body[1:])[0])
        if ins == Ins.VALUE_BLOCK and p1 == 0x00 and lc == 2 == len(body) and body[0] == _RESTORE_MARKER:
            return RestoreValueBlock(p2, body[1])
        if ins == Ins.READ_VALUE_BLOCK and p1 == 0x00 and lc == 4 and not body:
            return ReadValueBlock(p2)
        if ins == Ins.DIRECT_TRANSMIT and p1 == 0x00 and p2 == 0x00 and lc == len(body) > 0:
            return DirectTransmit(body)
    except ValueError as exc:
        raise ReaderProtocolError(f"malformed pseudo-APDU {_hex(apdu)}: {exc}") from exc
    if ins in Ins._value2member_map_:
        raise ReaderProtocolError(f"malformed pseudo-APDU {_hex(apdu)}: bad parameters or length")
    raise UnsupportedCommandError(f"unsupported pseudo-APDU {_hex(apdu)}")


# -- responses -------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A response APDU: data, then the status word SW1 SW2."""

    data: bytes
    sw: int

    def __post_init__(self) -> None:
        _byte("status word", self.sw, 0, 0xFFFF)

    @classmethod
    def success(cls, data: bytes = b"") -> Response:
        return cls(bytes(data), SW_SUCCESS)

    @classmethod
    def failed(cls) -> Response:
        return cls(b"", SW_OPERATION_FAILED)

    @classmethod
    def decode(cls, raw: bytes) -> Response:
        """:raises ReaderProtocolError: for fewer than two bytes (no status word)."""
        if len(raw) < 2:
            raise ReaderProtocolError(f"response APDU without a status word: {_hex(raw) or 'empty'}")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    def encode(self) -> bytes:
        return bytes(self.data) + self.sw.to_bytes(2, "big")


def _block_of(command: Command) -> int | None:
    if isinstance(command, RestoreValueBlock):
        return command.source
    return getattr(command, "block", None)


def check_response(command: Command, response: Response) -> bytes:
    """The data of a successful ``response`` to ``command``, or the card
    layer's (or reader's) error for its status word; see the module docstring.

    :raises AuthenticationError: Authentication answered ``63 00``.
    :raises CardAccessError: Read or Update Binary answered ``63 00``.
    :raises ValueOperationError: a value command answered ``63 00``.
    :raises CardCommandError: Get Data answered ``63 00``.
    :raises UnsupportedCommandError: the reader answered ``6A 81``.
    :raises ReaderProtocolError: any other status word, a refused Load
        Authentication Keys or Direct Transmit, or data of the wrong length.
    """
    name = type(command).__name__
    block = _block_of(command)
    if response.sw == SW_SUCCESS:
        _check_length(command, response)
        return response.data
    if response.sw == SW_FUNCTION_NOT_SUPPORTED:
        raise UnsupportedCommandError(f"the reader does not support {name} (SW 6A 81)")
    if response.sw != SW_OPERATION_FAILED:
        raise ReaderProtocolError(f"unexpected answer to {name}: {_hex(response.encode())}")
    failed = "(SW 63 00)"
    if isinstance(command, GeneralAuthenticate):
        raise AuthenticationError(f"key {command.key_type.name} refused {failed}", block=block)
    if isinstance(command, ReadBinary):
        raise CardAccessError(f"read refused {failed}", block=block)
    if isinstance(command, UpdateBinary):
        raise CardAccessError(f"write refused {failed}", block=block)
    if isinstance(command, ValueBlockOperation | RestoreValueBlock | ReadValueBlock):
        raise ValueOperationError(
            f"{name} refused {failed}: the access bits forbid it, or the block is not a valid value block",
            block=block,
        )
    if isinstance(command, GetUid):
        raise CardCommandError(f"no card could be selected {failed}")
    raise ReaderProtocolError(f"the reader refused {name} {failed}")


def _check_length(command: Command, response: Response) -> None:
    expected: tuple[int, ...] | None = None
    if isinstance(command, GetUid):
        expected = UID_LENGTHS
    elif isinstance(command, ReadBinary):
        expected = (BLOCK_SIZE,)
    elif isinstance(command, ReadValueBlock):
        expected = (4,)
    elif not isinstance(command, DirectTransmit):
        expected = (0,)
    if expected is not None and len(response.data) not in expected:
        raise ReaderProtocolError(
            f"answer to {type(command).__name__} has {len(response.data)} data bytes, expected"
            f" {' or '.join(map(str, expected))}: {_hex(response.encode())}"
        )


def decode_value(data: bytes) -> int:
    """The signed 32-bit big-endian value of a Read Value Block answer.

    :raises ReaderProtocolError: when ``data`` is not 4 bytes.
    """
    if len(data) != 4:
        raise ReaderProtocolError(f"a value is 4 bytes, got {_hex(data) or 'none'}")
    return int(struct.unpack(">i", data)[0])


# -- PN532 InListPassiveTarget, through Direct Transmit ----------------------------

PN532_HOST_TO_PN532 = 0xD4
PN532_PN532_TO_HOST = 0xD5
#: PN532 command codes used here, named as in the PN532 user manual.
PN532_CMD = {0x4A: "InListPassiveTarget"}
IN_LIST_PASSIVE_TARGET = 0x4A
#: BrTy 00: 106 kbps type A (ISO/IEC 14443 A, MIFARE).
BRTY_106_TYPE_A = 0x00
#: SENS_RES (ATQA) and SEL_RES (SAK) of a MIFARE Classic 1K.
SENS_RES_MIFARE_1K = {4: bytes([0x00, 0x04]), 7: bytes([0x00, 0x44]), 10: bytes([0x00, 0x84])}
SEL_RES_MIFARE_1K = 0x08


@dataclass(frozen=True)
class InListPassiveTarget:
    """PN532 InListPassiveTarget: activate up to ``max_tg`` (1 or 2) targets."""

    max_tg: int
    br_ty: int = BRTY_106_TYPE_A

    def __post_init__(self) -> None:
        _byte("MaxTg", self.max_tg, 1, 2)
        _byte("BrTy", self.br_ty)

    def encode(self) -> bytes:
        return bytes([PN532_HOST_TO_PN532, IN_LIST_PASSIVE_TARGET, self.max_tg, self.br_ty])

    def apdu(self) -> DirectTransmit:
        """The command wrapped in Direct Transmit."""
        return DirectTransmit(self.encode())

    @classmethod
    def decode(cls, payload: bytes) -> InListPassiveTarget:
        """:raises ReaderProtocolError: for another command or bad parameters."""
        if len(payload) != 4 or payload[0] != PN532_HOST_TO_PN532 or payload[1] != IN_LIST_PASSIVE_TARGET:
            raise ReaderProtocolError(f"not an InListPassiveTarget for 106 kbps type A: {_hex(payload)}")
        try:
            return cls(payload[2], payload[3])
        except ValueError as exc:
            raise ReaderProtocolError(f"bad InListPassiveTarget {_hex(payload)}: {exc}") from exc


@dataclass(frozen=True)
class TargetData:
    """One ISO 14443 A target in an InListPassiveTarget answer."""

    tg: int
    sens_res: bytes
    sel_res: int
    nfcid1: bytes

    def __post_init__(self) -> None:
        _byte("Tg", self.tg)
        _byte("SEL_RES", self.sel_res)
        if len(self.sens_res) != 2:
            raise ValueError(f"SENS_RES is 2 bytes, got {len(self.sens_res)}")
        if len(self.nfcid1) not in UID_LENGTHS:
            raise ValueError(f"NFCID1 is 4, 7 or 10 bytes, got {len(self.nfcid1)}")

    @classmethod
    def mifare_1k(cls, tg: int, uid: bytes) -> TargetData:
        """The target data a MIFARE Classic 1K with ``uid`` answers."""
        return cls(tg, SENS_RES_MIFARE_1K[len(uid)], SEL_RES_MIFARE_1K, bytes(uid))

    def encode(self) -> bytes:
        return bytes([self.tg]) + self.sens_res + bytes([self.sel_res, len(self.nfcid1)]) + self.nfcid1


@dataclass(frozen=True)
class InListPassiveTargetResponse:
    """The answer ``D5 4B <NbTg> <TargetData>...``; NbTg is ``len(targets)``."""

    targets: tuple[TargetData, ...]

    def __post_init__(self) -> None:
        if len(self.targets) > 2:
            raise ValueError(f"a PN532 lists at most 2 targets, got {len(self.targets)}")

    @property
    def nb_tg(self) -> int:
        return len(self.targets)

    def encode(self) -> bytes:
        out = bytes([PN532_PN532_TO_HOST, IN_LIST_PASSIVE_TARGET + 1, self.nb_tg])
        return out + b"".join(target.encode() for target in self.targets)

    @classmethod
    def decode(cls, payload: bytes) -> InListPassiveTargetResponse:
        """:raises ReaderProtocolError: for another answer or a truncated target."""
        if len(payload) < 3 or payload[0] != PN532_PN532_TO_HOST or payload[1] != IN_LIST_PASSIVE_TARGET + 1:
            raise ReaderProtocolError(f"not an InListPassiveTarget answer: {_hex(payload)}")
        count, offset, targets = payload[2], 3, []
        try:
            for _ in range(count):
                length = payload[offset + 4]
                end = offset + 5 + length
                if end > len(payload):
                    raise IndexError(end)
                nfcid1 = payload[offset + 5 : end]
                targets.append(TargetData(payload[offset], payload[offset + 1 : offset + 3], payload[offset + 3],
                                          nfcid1))
                offset = end
            result = cls(tuple(targets))
        except (IndexError, ValueError) as exc:
            raise ReaderProtocolError(f"malformed InListPassiveTarget answer {_hex(payload)}: {exc}") from exc
        if offset != len(payload):
            raise ReaderProtocolError(f"trailing bytes in InListPassiveTarget answer {_hex(payload)}")
        return result
