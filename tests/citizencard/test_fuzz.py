"""Fuzz: random and mutated dumps never make `card show` or `card verify`
raise anything but our own errors, rendered as one clear line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citizencard.cli import main
from tests.factories import issued_card, masters

REFERENCE = issued_card(1500).image()

random_images = st.binary(min_size=1024, max_size=1024)
mutations = st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=12).map(
    lambda changes: _mutate(REFERENCE, changes)
)


def _mutate(image: bytes, changes: list[tuple[int, int]]) -> bytes:
    data = bytearray(image)
    for offset, value in changes:
        data[offset] = value
    return bytes(data)


def _check(tmp: Path, image: bytes) -> None:
    dump = tmp / "fuzz.mfd"
    dump.write_bytes(image)
    runner = CliRunner()
    for args in (["show", str(dump)], ["show", str(dump), "--json", "--keys", str(tmp / "k")],
                 ["verify", str(dump), "--keys", str(tmp / "k")]):
        result = runner.invoke(main, ["card", *args])
        assert result.exit_code in (0, 1), (args, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output


def _keys(tmp: Path) -> None:
    from device.keystore import save

    if not (tmp / "k").exists():
        save(tmp / "k", masters())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_images)
def test_random_dumps(tmp_path: Path, image: bytes) -> None:
    _keys(tmp_path)
    _check(tmp_path, image)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations)
def test_mutated_dumps(tmp_path: Path, image: bytes) -> None:
    _keys(tmp_path)
    _check(tmp_path, image)
