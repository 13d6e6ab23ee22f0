"""Faults with real processes: the broker killed (SIGKILL) and restarted while
taps keep coming, and the agent process (`citizencard agent`) killed and
restarted. Nothing is lost: every journal entry ends stored once by the
server (one row per ``(device_id, seq)``, at the highest revision) and
acknowledged in the journal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from device.journal import JOURNAL_FILENAME, Journal
from tests.mqtt import StandInServer, wait_for

from .conftest import DEVICE, running, tap

ROOT = Path(__file__).resolve().parents[3]
CITIZENCARD = shutil.which("citizencard", path=str(Path(sys.executable).parent)) or "citizencard"


def test_the_broker_killed_and_restarted_while_taps_continue(device, mosquitto, server: StandInServer,
                                                             journal: Journal) -> None:
    taps = 300
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.journal_writer",
                               str(device.data_dir / JOURNAL_FILENAME), str(DEVICE), "--count", str(taps),
                               "--interval", "0.004"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with running(device) as agent:
            assert wait_for(lambda: len(server.stored_seqs(DEVICE)) >= 60, 10)
            mosquitto.kill()
            assert wait_for(lambda: not agent.connected.is_set())
            time.sleep(0.3)  # taps keep coming while the broker is down
            mosquitto.restart()
            assert writer.wait(30) == 0, writer.stderr.read() if writer.stderr else ""
            assert wait_for(lambda: journal.backlog() == 0, 15), journal.backlog()
            assert agent.counters.connections >= 2
    finally:
        writer.kill()
        writer.wait()
    assert server.stored_seqs(DEVICE) == set(range(1, taps + 1))
    assert set(server.stored.values()) == {1}  # every tap's completed revision, once per (device, seq)
    assert all(entry.acked for entry in map(journal.entry, range(1, taps + 1)))


def _agent_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITIZENCARD_")}
    with log.open("ab") as out:
        return subprocess.Popen([CITIZENCARD, "agent", "--config", str(config)], stdout=out, stderr=out, env=env)


def test_the_agent_process_killed_and_restarted_loses_nothing(device, server: StandInServer, journal: Journal,
                                                              tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    first = [tap(journal, n) for n in range(40)]
    agent = _agent_process(device.config, log)
    try:
        assert wait_for(lambda: server.stored_seqs(DEVICE) >= set(first), 10), log.read_text()
        more = [tap(journal, n) for n in range(40, 60)]
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        # the broker publishes the last will: the device is offline
        assert wait_for(lambda: (s := server.last_status(DEVICE)) is not None and not s.online, 5)
        while_dead = [tap(journal, n) for n in range(60, 100)]
        agent = _agent_process(device.config, log)
        assert wait_for(lambda: journal.backlog() == 0, 15), log.read_text()
        assert wait_for(lambda: (s := server.last_status(DEVICE)) is not None and s.online)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0, log.read_text()
    assert server.stored_seqs(DEVICE) == set(first + more + while_dead)
    assert wait_for(lambda: (s := server.last_status(DEVICE)) is not None and not s.online)  # a clean stop says so
    assert "Traceback" not in log.read_text()
