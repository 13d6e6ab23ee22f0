"""The pseudo-APDU codecs: the bytes of the ACR122U API, round trips, and
what each status word means for the card layer."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError, CardError
from card_layout.value_block import VALUE_MAX, VALUE_MIN
from hardware.errors import ReaderProtocolError
from hardware.pcsc.apdu import (
    SW_FUNCTION_NOT_SUPPORTED,
    SW_OPERATION_FAILED,
    Command,
    DirectTransmit,
    GeneralAuthenticate,
    GetUid,
    InListPassiveTarget,
    InListPassiveTargetResponse,
    LoadKey,
    ReadBinary,
    ReadValueBlock,
    Response,
    RestoreValueBlock,
    TargetData,
    UnsupportedCommandError,
    UpdateBinary,
    ValueBlockOperation,
    ValueOp,
    check_response,
    decode_value,
    parse_command,
)

KEY = bytes.fromhex("1A2B3C4D5E6F")

blocks = st.integers(0, 63)
keys = st.binary(min_size=6, max_size=6)
values = st.integers(VALUE_MIN, VALUE_MAX)
commands: st.SearchStrategy[Command] = st.one_of(
    st.just(GetUid()),
    st.builds(LoadKey, st.sampled_from([0, 1]), keys),
    st.builds(GeneralAuthenticate, blocks, st.sampled_from(KeyType), st.sampled_from([0, 1])),
    st.builds(ReadBinary, blocks),
    st.builds(UpdateBinary, blocks, st.binary(min_size=16, max_size=16)),
    st.builds(ValueBlockOperation, blocks, st.sampled_from(ValueOp), values),
    st.builds(RestoreValueBlock, blocks, blocks),
    st.builds(ReadValueBlock, blocks),
    st.builds(DirectTransmit, st.binary(min_size=1, max_size=255)),
)


# -- the bytes, as the ACR122U API gives them ------------------------------------------


@pytest.mark.parametrize(
    ("command", "apdu"),
    [
        (GetUid(), "FF CA 00 00 00"),
        (LoadKey(1, KEY), "FF 82 00 01 06 1A 2B 3C 4D 5E 6F"),
        (GeneralAuthenticate(4, KeyType.A, 0), "FF 86 00 00 05 01 00 04 60 00"),
        (GeneralAuthenticate(63, KeyType.B, 1), "FF 86 00 00 05 01 00 3F 61 01"),
        (ReadBinary(9), "FF B0 00 09 10"),
        (UpdateBinary(5, bytes(range(16))), "FF D6 00 05 10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F"),
        (ValueBlockOperation(8, ValueOp.STORE, 1000), "FF D7 00 08 05 00 00 00 03 E8"),
        (ValueBlockOperation(8, ValueOp.INCREMENT, 1), "FF D7 00 08 05 01 00 00 00 01"),
        (ValueBlockOperation(9, ValueOp.DECREMENT, 150), "FF D7 00 09 05 02 00 00 00 96"),
        (ValueBlockOperation(9, ValueOp.STORE, -2), "FF D7 00 09 05 00 FF FF FF FE"),
        (RestoreValueBlock(8, 9), "FF D7 00 08 02 03 09"),
        (ReadValueBlock(9), "FF B1 00 09 04"),
        (InListPassiveTarget(2).apdu(), "FF 00 00 00 04 D4 4A 02 00"),
    ],
)
def test_commands_encode_as_the_acr122u_api_says(command: Command, apdu: str) -> None:
    assert command.encode() == bytes.fromhex(apdu)
    assert parse_command(bytes.fromhex(apdu)) == command


@given(commands)
def test_every_command_round_trips(command: Command) -> None:
    assert parse_command(command.encode()) == command


@given(st.binary(min_size=0, max_size=40))
def test_parsing_arbitrary_bytes_either_refuses_or_round_trips(raw: bytes) -> None:
    try:
        command = parse_command(raw)
    except ReaderProtocolError:
        return
    assert command.encode() == raw


@given(st.binary(min_size=5, max_size=30))
def test_a_pseudo_apdu_with_an_unknown_instruction_is_unsupported(raw: bytes) -> None:
    assume(raw[1] not in (0x00, 0x82, 0x86, 0xB0, 0xB1, 0xCA, 0xD6, 0xD7))
    with pytest.raises(UnsupportedCommandError):
        parse_command(b"\xff" + raw[1:])


@pytest.mark.parametrize(
    "apdu",
    ["FF B0 00 04 04", "FF D6 00 04 04 00 00 00 00", "FF 82 00 02 06 1A 2B 3C 4D 5E 6F", "FF D7 00 04 02 04 05",
     "FF 86 00 00 05 01 00 04 62 00", "FF B0 00 40 10", "FF D7 00 04 05 03 00 00 00 01"],
)
def test_a_known_instruction_with_bad_parameters_is_malformed_not_unsupported(apdu: str) -> None:
    with pytest.raises(ReaderProtocolError) as raised:
        parse_command(bytes.fromhex(apdu))
    assert not isinstance(raised.value, UnsupportedCommandError)


@pytest.mark.parametrize(
    "build",
    [lambda: LoadKey(2, KEY), lambda: LoadKey(0, KEY[:5]), lambda: ReadBinary(64), lambda: UpdateBinary(4, bytes(15)),
     lambda: ValueBlockOperation(4, ValueOp.DECREMENT, VALUE_MAX + 1), lambda: RestoreValueBlock(-1, 4),
     lambda: GeneralAuthenticate(4, KeyType.A, 2), lambda: DirectTransmit(b""), lambda: InListPassiveTarget(3)],
)
def test_builders_refuse_what_the_reader_cannot_carry(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_a_loaded_key_never_shows_in_a_repr() -> None:
    assert KEY.hex() not in repr(LoadKey(0, KEY)).lower()
    assert "1A2B" not in repr(LoadKey(0, KEY))


# -- responses and status words ------------------------------------------------------------


@given(st.binary(max_size=40), st.integers(0, 0xFFFF))
def test_responses_round_trip(data: bytes, sw: int) -> None:
    response = Response(data, sw)
    assert Response.decode(response.encode()) == response


@pytest.mark.parametrize("raw", [b"", b"\x90"])
def test_a_response_without_status_word_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ReaderProtocolError):
        Response.decode(raw)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (GeneralAuthenticate(4, KeyType.B, 0), AuthenticationError),
        (ReadBinary(4), CardAccessError),
        (UpdateBinary(4, bytes(16)), CardAccessError),
        (GetUid(), CardCommandError),
        (LoadKey(0, KEY), ReaderProtocolError),
        (DirectTransmit(b"\xd4\x4a\x02\x00"), ReaderProtocolError),
    ],
)
def test_63_00_maps_to_the_card_layers_errors(command: Command, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        check_response(command, Response(b"", SW_OPERATION_FAILED))
    if isinstance(raised.value, CardError) and not isinstance(command, GetUid):
        assert raised.value.block == command.block  # type: ignore[union-attr]
    if error is CardAccessError:
        assert not isinstance(raised.value, AuthenticationError)


@pytest.mark.parametrize(
    "command",
    [ValueBlockOperation(9, ValueOp.DECREMENT, 1), RestoreValueBlock(9, 8), ReadValueBlock(9)],
)
def test_a_refused_value_command_is_both_an_access_and_a_command_error(command: Command) -> None:
    with pytest.raises(CardAccessError) as raised:
        check_response(command, Response(b"", SW_OPERATION_FAILED))
    assert isinstance(raised.value, CardCommandError)
    assert raised.value.block == 9
    assert "not a valid value block" in str(raised.value)


def test_6a_81_is_unsupported_and_other_status_words_are_protocol_errors() -> None:
    with pytest.raises(UnsupportedCommandError):
        check_response(ReadBinary(4), Response(b"", SW_FUNCTION_NOT_SUPPORTED))
    with pytest.raises(ReaderProtocolError, match="6F 00") as raised:
        check_response(ReadBinary(4), Response(b"", 0x6F00))
    assert not isinstance(raised.value, UnsupportedCommandError)


@pytest.mark.parametrize(
    ("command", "data"),
    [(GetUid(), bytes(5)), (ReadBinary(4), bytes(15)), (ReadValueBlock(4), bytes(3)), (UpdateBinary(4, bytes(16)),
                                                                                       b"\x00")],
)
def test_success_with_the_wrong_length_is_a_protocol_error(command: Command, data: bytes) -> None:
    with pytest.raises(ReaderProtocolError, match="data bytes"):
        check_response(command, Response.success(data))


@given(st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_success_returns_the_data(uid: bytes) -> None:
    assert check_response(GetUid(), Response.success(uid)) == uid


@given(values)
def test_read_value_decodes_signed_big_endian(value: int) -> None:
    assert decode_value(value.to_bytes(4, "big", signed=True)) == value


# -- InListPassiveTarget through Direct Transmit -----------------------------------------

targets = st.builds(
    TargetData,
    st.integers(1, 2),
    st.binary(min_size=2, max_size=2),
    st.integers(0, 255),
    st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
)


@given(st.lists(targets, max_size=2))
def test_in_list_passive_target_answers_round_trip(listed: list[TargetData]) -> None:
    answer = InListPassiveTargetResponse(tuple(listed))
    decoded = InListPassiveTargetResponse.decode(answer.encode())
    assert decoded == answer
    assert decoded.nb_tg == len(listed)


@given(st.integers(1, 2), st.integers(0, 255))
def test_in_list_passive_target_commands_round_trip(max_tg: int, br_ty: int) -> None:
    command = InListPassiveTarget(max_tg, br_ty)
    assert InListPassiveTarget.decode(command.encode()) == command
    assert parse_command(command.apdu().encode()) == DirectTransmit(command.encode())


def test_a_mifare_1k_target_answers_as_a_pn532_lists_it() -> None:
    answer = InListPassiveTargetResponse((TargetData.mifare_1k(1, bytes.fromhex("C0FFEE42")),))
    assert answer.encode() == bytes.fromhex("D5 4B 01 01 00 04 08 04 C0 FF EE 42")


@pytest.mark.parametrize("payload", ["D5 4B", "D5 4B 01 01 00 04 08 04 C0 FF", "D5 4B 00 00", "D5 41 00",
                                     "D5 4B 03"])
def test_a_broken_in_list_passive_target_answer_is_a_protocol_error(payload: str) -> None:
    with pytest.raises(ReaderProtocolError):
        InListPassiveTargetResponse.decode(bytes.fromhex(payload))
