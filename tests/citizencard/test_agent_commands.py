"""`citizencard agent` and `citizencard keys sync`: the sync agent from the
command line, its one-line errors, and a run with --once against a real broker."""

from __future__ import annotations

import os
from pathlib import Path

from device.journal import JOURNAL_FILENAME, Journal
from device.protocol.signing import load_private, load_public, public_bytes
from tests.mqtt import ServerKeys, StandInServer, device_files


def test_keys_sync_writes_a_key_pair(run, tmp_path: Path) -> None:
    out = tmp_path / "sync.key"
    result = run("keys", "sync", "--out", out)
    assert result.exit_code == 0, result.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert public_bytes(load_public(tmp_path / "sync.key.pub")) == public_bytes(load_private(out).public_key())
    again = run("keys", "sync", "--out", out)
    assert again.exit_code == 1 and again.output.strip().splitlines() == [
        f"Error: {out} exists; refusing to overwrite a key"]


def test_missing_key_files_are_one_line_errors(run, tmp_path: Path, mosquitto) -> None:
    files = device_files(tmp_path, 1201, mosquitto, ServerKeys())
    (tmp_path / "sync.key").unlink()
    result = run("agent", "--config", files.config)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: [sync] signing_key: ") and "sync.key does not exist" in line
    assert "citizencard keys sync" in line


def test_plain_tcp_to_another_machine_is_refused(run, tmp_path: Path, mosquitto) -> None:
    files = device_files(tmp_path, 1201, mosquitto, ServerKeys())
    files.config.write_text(files.config.read_text().replace('broker = "127.0.0.1"', 'broker = "10.0.0.5"'))
    result = run("agent", "--config", files.config)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "[sync] broker: plain TCP (no [sync] ca) is allowed only to a broker on this machine" in line


def test_once_exits_when_everything_is_acknowledged(run, tmp_path: Path, mosquitto) -> None:
    server_keys = ServerKeys()
    files = device_files(tmp_path, 1201, mosquitto, server_keys)
    files.data_dir.mkdir()
    with Journal(files.data_dir / JOURNAL_FILENAME, 1201) as journal:
        for n in range(7):
            journal.record(kind="tap", uid=None, card_number=n + 1, amount_cents=0, balance_cents=None,
                           decision="denied", reason="blocked", details={})
        with StandInServer(mosquitto, server_keys, {1201: files.signing_key.public_key()}) as server:
            result = run("agent", "--config", files.config, "--once")
            assert result.exit_code == 0, result.output
            assert journal.backlog() == 0 and server.stored_seqs(1201) == set(range(1, 8))
