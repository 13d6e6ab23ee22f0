"""The CLI through the real reader stacks: a PN532 emulator on a pty (pn532:
and nfcpy:), a private pcscd with the vpcd virtual card (pcsc:), and
`reader emulate` run as the user runs it, in its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.pcsc.pcscd import Pcscd
from hardware.pcsc.vcard import VirtualCard
from hardware.pn532.emulator import Pn532Emulator
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import load_dump
from hardware.sim.field import SimField

CITIZENCARD = str(Path(sys.executable).with_name("citizencard"))


@pytest.fixture
def pn532(dump: Path) -> Iterator[tuple[Pn532Emulator, SimulatedCard]]:
    card = SimulatedCard(load_dump(dump))
    emulator = Pn532Emulator(SimField(card)).start()
    yield emulator, card
    emulator.stop()


@pytest.fixture
def pcsc(pcscd: Pcscd, dump: Path) -> Iterator[tuple[Pcscd, SimulatedCard]]:
    card = SimulatedCard(load_dump(dump))
    virtual = VirtualCard(SimField(card), pcscd.port, reader_name=pcscd.reader_name).start()
    yield pcscd, card
    virtual.stop()


@pytest.mark.parametrize("scheme", ["pn532:", "nfcpy:tty:"])
def test_show_and_verify_through_the_pn532_stacks(run, keys_file: Path, pn532, scheme: str) -> None:
    emulator, _ = pn532
    uri = f"{scheme}{emulator.port}"
    result = run("card", "show", uri, "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["balance_cents"] == 1250
    result = run("card", "verify", uri, "--keys", keys_file)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("genuine: card 6033000000000042")


def test_reader_info_through_pn532(run, keys_file: Path, pn532) -> None:
    emulator, _ = pn532
    result = run("reader", "info", f"pn532:{emulator.port}", "--keys", keys_file, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["citizen_card"] is True


def test_list_probes_a_given_serial_port(run, pn532) -> None:
    emulator, _ = pn532
    result = run("reader", "list", "--serial-port", emulator.port, "--json")
    assert result.exit_code == 0, result.output
    uris = [r["uri"] for r in json.loads(result.output)["readers"]]
    assert f"pn532:{emulator.port}" in uris


def test_show_verify_and_list_through_pcscd(run, keys_file: Path, pcsc) -> None:
    daemon, _ = pcsc
    for uri in (f"pcsc:{daemon.reader_name}", "pcsc:"):
        result = run("card", "verify", uri, "--keys", keys_file)
        assert result.exit_code == 0, result.output
    result = run("reader", "list", "--json")
    assert f"pcsc:{daemon.reader_name}" in [r["uri"] for r in json.loads(result.output)["readers"]]


def test_no_card_in_a_real_reader_times_out_clearly(run, keys_file: Path, pcscd: Pcscd) -> None:
    virtual = VirtualCard(SimField(), pcscd.port, reader_name=pcscd.reader_name).start()
    try:
        result = run("card", "show", f"pcsc:{pcscd.reader_name}", "--keys", keys_file, "--timeout", "0.5")
    finally:
        virtual.stop()
    assert result.exit_code == 1
    assert "no card" in result.output.lower()


def _emulate(kind: str, dump: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CITIZENCARD, "reader", "emulate", kind, "--card", str(dump), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=20)
    return process.returncode, err


@pytest.mark.parametrize("kind", ["pn532", "pcsc"])
def test_reader_emulate_serves_a_dump_until_ctrl_c(run, keys_file: Path, dump: Path, kind: str,
                                                    request: pytest.FixtureRequest) -> None:
    extra = ()
    if kind == "pcsc":
        daemon = request.getfixturevalue("pcscd")
        extra = ("--vpcd-port", str(daemon.port))
    process = _emulate(kind, dump, *extra)
    try:
        assert process.stdout is not None
        uri = process.stdout.readline().strip()
        assert uri.startswith(f"{kind}:"), uri
        if kind == "pcsc":
            assert uri == f"pcsc:{daemon.reader_name}"
        result = run("card", "show", uri, "--keys", keys_file, "--json", "--timeout", "10")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["card_number"] == 6033000000000042
    finally:
        code, err = _stop(process)
    assert code == 0, err
    assert "holds the card as it is now" in err


def test_reader_emulate_stops_on_sigterm_and_saves_the_card(run, keys_file: Path, dump: Path) -> None:
    process = _emulate("pn532", dump)
    try:
        assert process.stdout is not None
        uri = process.stdout.readline().strip()
        result = run("card", "wipe", uri, "--keys", keys_file, "--force")
        assert result.exit_code == 0, result.output
    finally:
        code, err = _stop(process, signal.SIGTERM)
    assert code == 0, err
    assert dump.read_bytes() == SimulatedCard.blank(bytes.fromhex("0A0B0C0D")).image()


def test_reader_emulate_pcsc_without_pcscd_says_so(dump: Path, pcscd_session: Pcscd) -> None:
    pcscd_session.stop()
    try:
        process = _emulate("pcsc", dump)
        out, err = process.communicate(timeout=20)
    finally:
        pcscd_session.start()
    assert process.returncode == 1
    assert "pcscd is not running" in err
    assert out == ""
