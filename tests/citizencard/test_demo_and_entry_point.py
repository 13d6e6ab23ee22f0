"""The main job as a user runs it, through the installed console script: a
city on one machine (broker, server, back office with its staff pages,
ingest worker, devices with their sync agents), the cards issued through the
registry, a scripted morning and a live city, ending in checks that must all
pass; a card blocked in the staff pages over HTTP is refused at its next
tap; Ctrl-C stops everything."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_server.store import Anomaly, SyncStore

from .staff_browser import StaffBrowser

# The console script that pip installed next to this interpreter (./dev puts it there).
CITIZENCARD = shutil.which("citizencard", path=str(Path(sys.executable).parent)) or "citizencard"

CHECKS = (
    r"the block reached every validator \(slowest [\d.]+ s\) and the card's next tap was blocked",
    r"the duplicate card (\d{4}) took over ([\d.]+) EUR and the contracts \(bike\); the old card's tap was blocked, "
    r"the new card's (approved|transfer|capped)",
    r"the top-up reached every validator \(slowest [\d.]+ s\) and was collected at the next tap",
    r"every journal entry acknowledged by the server \((\d+) entries",
    r"the server holds (\d+) transactions, one per journal entry",
    r"the server's shadow balance and counter of every card match the card \((\d+) of \1\)",
    r"anomalies flagged by the server's reconciliation: 0",
    r"denied taps of blocked cards: \d+ \(card 0001\), none moved money",
    r"money check: issued ([\d.]+) EUR \+ topped up ([\d.]+) EUR - charges ([\d.]+) EUR - left on replaced cards "
    r"([\d.]+) EUR = balances ([\d.]+) EUR",
)
TAP = re.compile(r"^\d\d:\d\d:\d\d (bus \d+ line \d+|dock \d+|charger \d+) +card (\d{4}): (\w+)", re.MULTILINE)


@pytest.fixture
def mosquitto_installed() -> None:
    if shutil.which("mosquitto") is None:
        message = "mosquitto is not installed (./dev installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _cents(text: str) -> int:
    return round(float(text) * 100)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for good, only not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_demo_runs_the_city_and_every_check_passes(mosquitto_installed: None, tmp_path: Path) -> None:
    result = subprocess.run([CITIZENCARD, "demo", "--dir", str(tmp_path), "--cards", "6", "--taps", "40",
                             "--seed", "7", "--port", "0", "--duration", "2", "--rate", "600"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(r"broker: mosquitto \(pid \d+\) on mqtt://127\.0\.0\.1:\d+ \(plain TCP\)", out)
    assert "devices bus 1201 line 12, bus 1202 line 4, dock 1301, charger 1401 registered" in out
    assert re.search(r"staff pages: http://127\.0\.0\.1:\d+/staff/  sign in as demo / citizencard-demo", out)
    assert re.search(r"ingest worker and 4 sync agents connected in [\d.]+ s", out)
    assert "issued 6 cards through the registry (4 to holders, 2 tourist cards)" in out
    assert re.search(r"card 0001 = \d{16} \(citizen, general, holder \d+, bike contract\)", out)
    assert re.search(r"card 0003 = \d{16} \(citizen, general, holder \d+, ev_charging contract\)", out)
    assert re.search(r"card 0004 = \d{16} \(tourist, general, no holder\)", out)
    assert re.search(r"card (\d{4}): torn_retry .*\n.*card \1: tapped again: ", out)
    assert re.search(r"dock 1301 +card 0002: rental_started .*\n(.*\n)*.*dock 1301 +card 0002: rental_ended", out)
    assert re.search(r"charger 1401 +card 0003: charge_started .*\n(.*\n)*.*charger 1401 +card 0003: charge_ended "
                     r"+-[\d.]+ EUR .*\n +charged \d+ Wh in \d+ s", out)
    # the lost card: blocked in the registry, the block travels server -> ingest -> broker -> agents -> validators
    assert re.search(r"card office: card 0001 reported lost, blocked in the registry \(deny-list version 1\); "
                     r"duplicate application \d+\n +the block reached (bus|dock|charger) .* in [\d.]+ s.*\n"
                     r".*card 0001: blocked ", out)
    assert re.search(r"duplicate application \d+ approved and issued as card 0006 = \d{16} \(citizen, general, "
                     r"holder 2, bike contract\): it took over [\d.]+ EUR and bike contract from card 0001", out)
    assert re.search(r"20\.00 EUR bought online for card 0000 \(load order \d+, load \d+\)\n"
                     r" +the top-up reached .* in [\d.]+ s.*\n.*card 0000: .*\n +collected: the card took load", out)

    morning, live = out.split("the live city:")
    checks = morning[morning.index("checks:"):]
    assert "✗" not in out
    found = []
    for pattern in CHECKS:
        match = re.search("✓ " + pattern, checks)
        assert match is not None, f"{pattern!r} not among:\n{checks}"
        found.append(match)
    assert found[3].group(1) == found[4].group(1)  # journal entries = server transactions
    issued, topped, charges, left, balances = (_cents(g) for g in found[8].groups())
    assert issued + topped - charges - left == balances
    charged = sum(_cents(m) for m in re.findall(r" -([\d.]+) EUR ", morning))
    assert charged == charges  # every charge printed was made, and journaled, exactly once

    assert len(TAP.findall(live)) > 3, live  # riders tapped live, and the checks ran again
    final = live[live.index("checks:"):]
    for pattern in CHECKS[3:]:
        assert re.search("✓ " + pattern, final), f"{pattern!r} not among:\n{final}"
    assert "stopping the city" in live and "city stopped" in live

    dumps = sorted(tmp_path.glob("card-*.mfd"))
    assert len(dumps) == 7
    keys = tmp_path / "city" / "server" / "issuer.keys"
    verify = subprocess.run([CITIZENCARD, "card", "verify", str(dumps[-1]), "--keys", str(keys)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.startswith("genuine:")


class _Demo:
    """A demo running as a subprocess, its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # A process group of its own, as a terminal gives a foreground job: Ctrl-C goes to the group.
        self.process = subprocess.Popen([CITIZENCARD, "demo", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=env, process_group=0)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None or not self.lines.empty(), "".join(self.output)
                continue
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"{pattern!r} not printed within {timeout:g} s:\n{''.join(self.output)}")

    def rest(self, timeout: float = 30.0) -> str:
        self.process.wait(timeout)
        time.sleep(0.1)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return "".join(self.output)


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[_Demo]:
    demo = _Demo("--dir", str(tmp_path), "--cards", "4", "--taps", "8", "--port", "0", "--rate", "300")
    try:
        yield demo
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait(10)


def test_a_card_blocked_in_the_staff_pages_is_refused_live_and_ctrl_c_stops_everything(
        mosquitto_installed: None, running_demo: _Demo) -> None:
    demo = running_demo
    broker_pid = int(demo.wait_for(r"broker: mosquitto \(pid (\d+)\)").group(1))
    url = demo.wait_for(r"staff pages: (http://127\.0\.0\.1:\d+)/staff/  sign in as demo / citizencard-demo").group(1)
    demo.wait_for(r"the live city: 300 taps a minute until Ctrl-C")
    label = demo.wait_for(r"^\d\d:\d\d:\d\d bus .* card (\d{4}): (?!blocked)").group(1)
    numbers = {label: int(number) for label, number in re.findall(r"card (\d{4}) = (\d{16}) ", "".join(demo.output))}
    assert len(numbers) == 5  # four cards issued, and the lost one's duplicate

    browser = StaffBrowser(url)
    home = browser.sign_in("demo", "citizencard-demo")
    assert "Sign out" in home
    page, where = browser.block(numbers[label], "reported stolen at the desk")
    assert "/staff/denylist?blocked=" in where
    assert str(numbers[label]) in page

    demo.wait_for(rf"^\d\d:\d\d:\d\d (bus|dock|charger) .* card {label}: blocked ", timeout=30)
    assert demo.process.poll() is None
    os.killpg(demo.process.pid, signal.SIGINT)  # a terminal's Ctrl-C: to the whole foreground group
    out = demo.rest()
    assert demo.process.returncode == 0, out
    live = out[out.index("stopping after"):]
    assert re.search(r"✓ denied taps of blocked cards: \d+ \(card 0001, card " + label + r"\), none moved money",
                     live), live
    assert "✗" not in out and "Traceback" not in out
    assert "city stopped" in live
    assert not _pid_alive(broker_pid)


def test_a_failed_check_fails_the_demo_over_tls(mosquitto_installed: None, run, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    flagged = Anomaly(9_724_000_000_000_001, "repeated_counter", 1201, 1, "planted by the test")
    monkeypatch.setattr(SyncStore, "anomalies", lambda self: [flagged])
    result = run("demo", "--dir", tmp_path, "--cards", "4", "--taps", "6", "--tls", "--port", "0", "--duration", "0")
    assert result.exit_code == 1, result.output
    assert re.search(r"broker: mosquitto \(pid \d+\) on mqtts://127\.0\.0\.1:\d+ \(TLS", result.output)
    assert "✓ every journal entry acknowledged by the server" in result.output
    assert "✗ anomalies flagged by the server's reconciliation: 1" in result.output
    assert "repeated_counter card 9724000000000001 device 1201 seq 1: planted by the test" in result.output
    assert "the live city" not in result.output
    assert (tmp_path / "pki" / "ca.crt").exists() and (tmp_path / "pki" / "1401.crt").exists()


def test_a_busy_port_is_a_clear_error(mosquitto_installed: None, run, tmp_path: Path) -> None:
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("demo", "--dir", tmp_path, "--cards", "4", "--port", port, "--duration", "0")
    assert result.exit_code == 1
    assert f"the back office cannot start on 127.0.0.1:{port}" in result.output and "try --port 0" in result.output


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
