"""`citizencard validator init|tap|run` as a depot technician and a test rig use them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from device.keystore import load

CITIZENCARD = str(Path(sys.executable).with_name("citizencard"))


@pytest.fixture
def setup(run, tmp_path: Path, keys_file: Path) -> Path:
    card = tmp_path / "card.mfd"
    assert run("card", "issue", "--keys", keys_file, "--out", card, "--balance", "5", "--uid", "01020304",
               "--contract", "bike:2026-01-01:2026-12-31", "--contract", "ev_charging:2026-01-01:2026-12-31"
               ).exit_code == 0
    config = tmp_path / "bus.toml"
    result = run("validator", "init", "--mode", "bus", "--keys", keys_file, "--out", config, "--location", "12",
                 "--device-id", "4711")
    assert result.exit_code == 0, result.output
    return config


def _tap(run, config: Path, *args: str) -> tuple[int, dict]:
    result = run("validator", "tap", "--config", config, *args)
    assert result.output.count("\n") == 1, result.output
    return result.exit_code, json.loads(result.output)


def test_init_writes_a_config_with_validator_keys_only(setup: Path) -> None:
    keys = setup.parent / "validator.keys"
    assert load(keys).key_b is None
    text = setup.read_text()
    assert "validator.keys" in text and "[fares.bus]" in text


def test_tap_prints_one_json_object_and_exits_by_decision(run, setup: Path) -> None:
    code, first = _tap(run, setup, "--at", "2026-11-21T08:00:00")
    assert code == 0
    assert {k: first[k] for k in ("decision", "reason", "amount_cents", "balance_cents")} == \
        {"decision": "approved", "reason": "approved", "amount_cents": 150, "balance_cents": 350}
    code, again = _tap(run, setup, "--at", "2026-11-21T08:01:00")
    assert (code, again["decision"], again["amount_cents"]) == (0, "already_validated", 0)
    balances = [_tap(run, setup, "--at", f"2026-11-{day}T08:00:00+01:00")[1]["balance_cents"] for day in (22, 23, 24)]
    assert balances == [200, 50, -100]  # one ride into a small negative balance is allowed
    code, denied = _tap(run, setup, "--at", "2026-11-25T08:00:00")
    assert (code, denied["decision"], denied["reason"], denied["balance_cents"]) == \
        (1, "denied", "insufficient_funds", -100)


def test_a_torn_tap_through_the_reader_uri_then_a_retry(run, setup: Path) -> None:
    card = setup.parent / "card.mfd"
    # select 1 + read 12 + contracts 8, then auth and 2 writes of the record, auth of the purse: the decrement tears
    code, torn = _tap(run, setup, "--reader", f"sim:{card}?tear_after=25&torn_bytes=8", "--at", "2026-11-21T08:00")
    assert (code, torn["reason"]) == (1, "torn_retry")
    code, retry = _tap(run, setup, "--at", "2026-11-21T08:00:30")
    assert code == 0
    assert retry["balance_cents"] == 350  # charged exactly once, by the torn tap or by the retry


def test_bike_and_ev_modes(run, setup: Path) -> None:
    code, take = _tap(run, setup, "--mode", "bike", "--at", "2026-11-21T09:00:00")
    assert (code, take["reason"], take["details"]["bike"]) == (0, "rental_started", 1201)
    code, second = _tap(run, setup, "--mode", "bike", "--at", "2026-11-21T09:05:00", "--dock-bike", "555")
    assert (code, second["reason"]) == (1, "rental_open")
    code, back = _tap(run, setup, "--mode", "bike", "--at", "2026-11-21T10:10:00", "--dock-bike", "1201")
    assert (code, back["reason"], back["amount_cents"]) == (0, "rental_ended", 100)  # 70 min: 2 blocks of 50
    code, start = _tap(run, setup, "--mode", "ev", "--at", "2026-11-21T11:00:00")
    assert (code, start["reason"]) == (0, "charge_started")
    code, stop = _tap(run, setup, "--mode", "ev", "--at", "2026-11-21T12:00:00")
    assert (code, stop["reason"], stop["details"]["energy_wh"], stop["amount_cents"]) == \
        (0, "charge_ended", 7400, 185)


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--at", "yesterday"), "not an ISO time"), (("--dock-bike", "3"), "--dock-bike needs --mode bike"),
     (("--reader", "nosuch:x"), "unknown reader scheme")],
)
def test_usage_errors_exit_2_or_1_clearly(run, setup: Path, args: tuple[str, ...], message: str) -> None:
    result = run("validator", "tap", "--config", setup, *args)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_bad_config_exits_2_naming_the_key(run, setup: Path) -> None:
    setup.write_text(setup.read_text().replace('mode = "bus"', 'mode = "tram"'))
    result = run("validator", "tap", "--config", setup)
    assert result.exit_code == 2
    assert "mode: 'tram' is not one of bus, bike, ev" in result.output


def test_run_loops_with_feedback_until_sigterm(setup: Path) -> None:
    process = subprocess.Popen([CITIZENCARD, "validator", "run", "--config", str(setup)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the console feedback's first lines, then the tap's JSON
        while line and not line.startswith("{"):
            line = process.stdout.readline()
        tap = json.loads(line)
        assert tap["decision"] == "approved"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
