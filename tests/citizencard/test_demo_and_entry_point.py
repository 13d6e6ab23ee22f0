"""The main job as a user runs it, through the installed console script: a
city on one machine (broker, server, ingest worker, devices with their sync
agents) and a morning of taps, ending in checks that must all pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sync_server.store import Anomaly, SyncStore

# The console script that pip installed next to this interpreter (./dev puts it there).
CITIZENCARD = shutil.which("citizencard", path=str(Path(sys.executable).parent)) or "citizencard"

CHECKS = (
    r"the block reached every validator \(slowest [\d.]+ s\) and the card's next tap was blocked",
    r"the top-up reached every validator \(slowest [\d.]+ s\) and was collected at the next tap",
    r"every journal entry acknowledged by the server \((\d+) entries",
    r"the server holds (\d+) transactions, one per journal entry",
    r"the server's shadow balance and counter of every card match the card \(4 of 4\)",
    r"anomalies flagged by the server's reconciliation: 0",
    r"money check: issued ([\d.]+) EUR \+ topped up ([\d.]+) EUR - charges ([\d.]+) EUR = balances ([\d.]+) EUR",
)


@pytest.fixture
def mosquitto_installed() -> None:
    if shutil.which("mosquitto") is None:
        message = "mosquitto is not installed (./dev installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _cents(text: str) -> int:
    return round(float(text) * 100)


def test_demo_runs_the_city_and_every_check_passes(mosquitto_installed: None, tmp_path: Path) -> None:
    result = subprocess.run([CITIZENCARD, "demo", "--dir", str(tmp_path), "--cards", "4", "--taps", "60",
                             "--seed", "7"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(r"broker: mosquitto on mqtt://127\.0\.0\.1:\d+ \(plain TCP\)", out)
    assert "devices bus 1201 line 12, bus 1202 line 4, dock 1301 registered" in out
    assert re.search(r"ingest worker and 3 sync agents connected in [\d.]+ s", out)
    assert "issued 4 cards" in out
    assert re.search(r"card (\d{4}): torn_retry .*\n.*card \1: tapped again: ", out)
    assert re.search(r"dock 1301 +card 0002: rental_started .*\n(.*\n)*.*dock 1301 +card 0002: rental_ended", out)
    # the block travels server -> ingest -> broker -> agents -> validators, and the next tap is refused
    assert re.search(r"card 0001 reported lost, blocked on the server \(deny-list version 1\)\n"
                     r" +the block reached (bus|dock) .* in [\d.]+ s.*\n.*card 0001: blocked ", out)
    assert re.search(r"20\.00 EUR bought online for card 0000 \(load 1, loads version 1\)\n"
                     r" +the top-up reached .* in [\d.]+ s.*\n.*card 0000: .*\n +collected: the card took load 1", out)

    checks = out[out.index("checks:"):]
    assert "✗" not in checks
    found = []
    for pattern in CHECKS:
        match = re.search("✓ " + pattern, checks)
        assert match is not None, f"{pattern!r} not among:\n{checks}"
        found.append(match)
    assert found[2].group(1) == found[3].group(1)  # journal entries = server transactions
    issued, topped, charges, balances = (_cents(g) for g in found[6].groups())
    assert (issued, topped) == (4 * 1000, 2000)
    assert issued + topped - charges == balances
    charged = sum(_cents(m) for m in re.findall(r" -([\d.]+) EUR ", out))
    assert charged == charges  # every charge printed was made, and journaled, exactly once

    dumps = sorted(tmp_path.glob("card-*.mfd"))
    assert len(dumps) == 4
    keys = tmp_path / "city" / "server" / "issuer.keys"
    for dump in dumps:
        verify = subprocess.run([CITIZENCARD, "card", "verify", str(dump), "--keys", str(keys)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert verify.returncode == 0, verify.stdout
        assert verify.stdout.startswith("genuine:")


def test_a_failed_check_fails_the_demo_over_tls(mosquitto_installed: None, run, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    flagged = Anomaly(9_724_000_000_000_001, "repeated_counter", 1201, 1, "planted by the test")
    monkeypatch.setattr(SyncStore, "anomalies", lambda self: [flagged])
    result = run("demo", "--dir", tmp_path, "--cards", "3", "--taps", "6", "--tls")
    assert result.exit_code == 1, result.output
    assert re.search(r"broker: mosquitto on mqtts://127\.0\.0\.1:\d+ \(TLS", result.output)
    assert "✓ every journal entry acknowledged by the server" in result.output
    assert "✗ anomalies flagged by the server's reconciliation: 1" in result.output
    assert "repeated_counter card 9724000000000001 device 1201 seq 1: planted by the test" in result.output
    assert (tmp_path / "pki" / "ca.crt").exists() and (tmp_path / "pki" / "1301.crt").exists()


def test_the_demo_refuses_a_directory_holding_a_city(run, tmp_path: Path) -> None:
    (tmp_path / "city").mkdir()
    result = run("demo", "--dir", tmp_path)
    assert result.exit_code == 2
    assert "holds an earlier demo's city" in result.output


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run([CITIZENCARD, "card", "show", str(tmp_path / "missing.mfd")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "missing.mfd" in result.stderr
