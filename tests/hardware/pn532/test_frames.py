"""PN532 frames: the user manual's vectors, round trips, and a parser that
finds frames in noise and split reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.errors import ReaderProtocolError
from hardware.pn532.frames import (
    ACK,
    ERROR,
    MAX_LENGTH,
    NACK,
    TFI_HOST,
    TFI_PN532,
    Ack,
    CorruptFrame,
    ErrorFrame,
    FrameError,
    FrameParser,
    InformationFrame,
    Nack,
    decode,
    encode,
    encode_information,
    hex_bytes,
)

# Frames nfcpy 1.0.4 writes and expects byte for byte in nfc.clf.pn532.init.
GET_FIRMWARE_VERSION = bytes.fromhex("0000ff02fed4022a00")
SAM_CONFIGURATION = bytes.fromhex("0000ff05fbd4140100001700")
SAM_CONFIGURATION_RESPONSE = bytes.fromhex("0000ff02fed5151600")

frames = st.builds(
    InformationFrame,
    tfi=st.sampled_from([TFI_HOST, TFI_PN532]),
    data=st.binary(min_size=0, max_size=MAX_LENGTH - 1),
)
any_frame = st.one_of(st.just(Ack()), st.just(Nack()), st.just(ErrorFrame()), frames)
# Noise without 00 cannot contain a start code, so the frame after it is found intact.
noise = st.binary(max_size=40).map(lambda data: data.replace(b"\x00", b"\x55"))


def parse_all(data: bytes, chunk: int | None = None) -> list[object]:
    parser = FrameParser()
    found: list[object] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        parser.feed(piece)
        while (frame := parser.next()) is not None:
            found.append(frame)
    return found


def test_the_manuals_vectors() -> None:
    assert encode_information(TFI_HOST, b"\x02") == GET_FIRMWARE_VERSION
    assert encode_information(TFI_HOST, b"\x14\x01\x00\x00") == SAM_CONFIGURATION
    assert decode(SAM_CONFIGURATION_RESPONSE) == InformationFrame(TFI_PN532, b"\x15")
    assert (encode(Ack()), encode(Nack()), encode(ErrorFrame())) == (ACK, NACK, ERROR)
    assert ACK == bytes.fromhex("0000FF00FF00") and NACK == bytes.fromhex("0000FFFF0000")
    assert (decode(ACK), decode(NACK), decode(ERROR)) == (Ack(), Nack(), ErrorFrame())


def test_long_data_goes_in_an_extended_frame() -> None:
    # Diagnose (00), NumTst 00 and 262 bytes: nfcpy's communication line test.
    data = b"\x00\x00" + bytes(x & 0xFF for x in range(262))
    raw = encode_information(TFI_HOST, data)
    assert raw[:8] == bytes.fromhex("0000FFFFFF0109F6")  # LEN 0x0109 = 265, LCS F6
    assert decode(raw) == InformationFrame(TFI_HOST, data)
    assert decode(encode_information(TFI_PN532, b"\x03\x32", extended=True)) == InformationFrame(TFI_PN532, b"\x03\x32")


def test_a_normal_frame_of_255_is_not_taken_for_an_extended_one() -> None:
    raw = encode_information(TFI_HOST, bytes(254))
    assert raw[3:5] == b"\xff\x01"
    assert decode(raw) == InformationFrame(TFI_HOST, bytes(254))


def test_encoding_refuses_what_the_chip_cannot_take() -> None:
    with pytest.raises(FrameError, match="exceed"):
        encode_information(TFI_HOST, bytes(MAX_LENGTH))
    with pytest.raises(FrameError, match="normal frame"):
        encode_information(TFI_HOST, bytes(255), extended=False)
    assert issubclass(FrameError, ReaderProtocolError) and issubclass(FrameError, ValueError)


@given(any_frame)
def test_round_trip(frame: object) -> None:
    assert decode(encode(frame)) == frame  # type: ignore[arg-type]


@given(frames, st.booleans())
def test_round_trip_either_format(frame: InformationFrame, extended: bool) -> None:
    if not extended and len(frame.data) > 254:
        extended = True
    assert decode(encode_information(frame.tfi, frame.data, extended=extended)) == frame


@given(st.lists(st.tuples(noise, any_frame), max_size=5), st.integers(min_value=1, max_value=16))
def test_the_parser_finds_every_frame_after_noise_in_any_split(items: list[tuple[bytes, object]], chunk: int) -> None:
    stream = b"".join(garbage + encode(frame) for garbage, frame in items)  # type: ignore[arg-type]
    assert parse_all(stream, chunk) == [frame for _, frame in items]


@given(st.binary(max_size=300))
def test_the_parser_survives_any_bytes(data: bytes) -> None:
    parser = FrameParser()
    parser.feed(data)
    for _ in range(len(data) + 1):
        if parser.next() is None:
            break
    assert parser.next() is None
    # What is left can only be the beginning of a frame still to come.
    assert parser.pending[:1] in (b"", b"\x00")
    assert parser.pending[:2] in (b"", b"\x00", b"\x00\xff")


def test_a_bad_data_checksum_is_reported_with_the_frame() -> None:
    raw = bytearray(SAM_CONFIGURATION_RESPONSE)
    raw[-2] ^= 0xFF
    found = parse_all(b"\x12\x34" + bytes(raw) + ACK)
    assert isinstance(found[0], CorruptFrame) and found[0].raw == bytes(raw[1:8])
    assert "data checksum" in found[0].reason
    assert found[1:] == [Ack()]
    with pytest.raises(FrameError, match="data checksum"):
        decode(bytes(raw))


def test_a_bad_length_checksum_is_noise() -> None:
    bad = bytes.fromhex("0000ff03fed5151600")  # LEN 03 + LCS FE != 0
    assert parse_all(bad + SAM_CONFIGURATION_RESPONSE) == [InformationFrame(TFI_PN532, b"\x15")]


def test_noise_that_looks_like_an_extended_header_is_skipped() -> None:
    fake = bytes.fromhex("00ffffff7fff02")  # LENM+LENL+LCS = 0 but length 0x7FFF > MAX_LENGTH
    assert parse_all(fake + ACK) == [Ack()]


def test_the_wake_up_sequence_before_a_command_is_noise() -> None:
    parser = FrameParser()
    parser.feed(b"\x55\x55" + bytes(14) + GET_FIRMWARE_VERSION)
    assert parser.next() == InformationFrame(TFI_HOST, b"\x02")
    assert parser.skipped == 17 and parser.pending == b"\x00"  # the postamble, taken by the next call
    assert parser.next() is None and parser.pending == b"" and parser.skipped == 17


def test_decode_wants_exactly_one_frame() -> None:
    with pytest.raises(FrameError, match="no complete"):
        decode(GET_FIRMWARE_VERSION[:-2])
    with pytest.raises(FrameError, match="not exactly one"):
        decode(GET_FIRMWARE_VERSION + ACK)
    with pytest.raises(FrameError, match="not exactly one"):
        decode(b"\x99" + GET_FIRMWARE_VERSION)


def test_hex_bytes_cuts_long_data() -> None:
    assert hex_bytes(b"\x00\xd5") == "00 D5"
    assert hex_bytes(b"") == "(nothing)"
    assert hex_bytes(bytes(100), limit=2) == "00 00 ... (100 bytes)"
