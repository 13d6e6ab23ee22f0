"""Reader URIs: the sim scheme, its parameters, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from card_layout.access import KeyType
from card_layout.errors import CardRemovedError
from card_layout.reader import ClassicReader
from card_layout.trailer import TRANSPORT_KEY
from hardware.errors import DumpError, HardwareError, ReaderUriError
from hardware.sim.reader import SimReader
from hardware.uri import READER_FACTORIES, ReaderUri, is_reader_uri, open_reader, parse_reader_uri
from tests.builders import UID


def test_sim_uri_opens_the_dump(dump_path: Path) -> None:
    reader = open_reader(f"sim:{dump_path}")
    assert isinstance(reader, SimReader)
    assert isinstance(reader, ClassicReader)
    assert reader.uid() == UID
    assert reader.dump_path == dump_path


def test_sim_uri_parameters_arm_the_tear(dump_path: Path) -> None:
    reader = open_reader(f"sim:{dump_path}?tear_after=1&torn_bytes=2")
    reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
    with pytest.raises(CardRemovedError):
        reader.write_block(4, b"\xaa" * 16)
    assert dump_path.read_bytes()[64:80] == b"\xaa\xaa" + bytes(14)


def test_parse_splits_scheme_target_and_parameters() -> None:
    uri = parse_reader_uri("sim:/tmp/a card.mfd?tear_after=3&torn_bytes=16")
    assert uri == ReaderUri("sim", "/tmp/a card.mfd", {"tear_after": "3", "torn_bytes": "16"})
    assert str(uri) == "sim:/tmp/a card.mfd?tear_after=3&torn_bytes=16"
    assert parse_reader_uri("sim:card.mfd").params == {}


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ReaderUriError, match=r"unknown reader scheme 'pcsc2' .*known schemes: nfcpy, pcsc, pn532, sim"):
        open_reader("pcsc2:Reader 0")


def test_text_without_a_scheme_is_not_a_uri() -> None:
    with pytest.raises(ReaderUriError, match=r"not a reader URI.*known schemes: nfcpy, pcsc, pn532, sim"):
        open_reader("card.mfd")


def test_missing_path() -> None:
    for uri in ("sim:", "sim:?tear_after=1"):
        with pytest.raises(ReaderUriError, match="names no target: expected sim:PATH"):
            open_reader(uri)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("tear_afterr=1", "unknown parameter 'tear_afterr' for sim: \\(known: tear_after, torn_bytes\\)"),
        ("tear_after", "parameter 'tear_after' is not NAME=VALUE"),
        ("tear_after=", "parameter 'tear_after=' is not NAME=VALUE"),
        ("=3", "parameter '=3' is not NAME=VALUE"),
        ("", "parameter '' is not NAME=VALUE"),
        ("tear_after=1&", "parameter '' is not NAME=VALUE"),
        ("tear_after=1&tear_after=2", "parameter 'tear_after' given twice"),
        ("tear_after=-1", "tear_after='-1' is not a non-negative integer"),
        ("tear_after=two", "tear_after='two' is not a non-negative integer"),
        ("tear_after=²", "tear_after='²' is not a non-negative integer"),
        ("tear_after=1&torn_bytes=17", "torn_bytes=17 outside 0..16"),
        ("torn_bytes=4", "torn_bytes needs tear_after"),
    ],
)
def test_bad_parameters(dump_path: Path, query: str, message: str) -> None:
    with pytest.raises(ReaderUriError, match=message):
        open_reader(f"sim:{dump_path}?{query}")


def test_uri_errors_are_value_errors_and_hardware_errors() -> None:
    with pytest.raises(ValueError) as info:
        open_reader("nope:x")
    assert isinstance(info.value, HardwareError)


def test_a_missing_dump_is_a_dump_error_not_a_uri_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError) as info:
        open_reader(f"sim:{tmp_path / 'absent.mfd'}")
    assert not isinstance(info.value, ReaderUriError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sim:card.mfd", True),
        ("sim:", True),
        ("card.mfd", False),
        ("/tmp/sim:card.mfd", False),
        ("simulator:card.mfd", False),
        ("SIM:card.mfd", False),
        ("", False),
    ],
)
def test_is_reader_uri(text: str, expected: bool) -> None:
    assert is_reader_uri(text) is expected


def test_the_scheme_mapping_is_immutable() -> None:
    assert set(READER_FACTORIES) == {"sim", "pcsc", "pn532", "nfcpy"}
    with pytest.raises(TypeError):
        READER_FACTORIES["fake"] = lambda uri: None  # type: ignore[index]
