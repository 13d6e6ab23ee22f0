"""``citizencard server load``: a top-up paid at the card office becomes a
pending load order for the card's next tap, audited; clear errors otherwise.
``citizencard server web`` serves the back office over HTTP until stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from citizencard.broker import free_port
from citizencard.cli import main
from device import keystore
from device.protocol import items
from sync_server.config import load_server_config
from sync_server.db.models import AuditEntry, LoadOrder
from sync_server.setup import init_server, open_store
from tests.factories import masters

CARD = 6_000_000_000_000_007


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = init_server(tmp_path / "server")
    keystore.save(tmp_path / "server" / "issuer.keys", masters())
    return path


def _load(config: Path, *args: object):
    return CliRunner().invoke(main, ["server", "load", "--config", str(config), *map(str, args)])


def test_a_top_up_for_a_card_issued_elsewhere_needs_its_uid(config: Path) -> None:
    refused = _load(config, "--card", CARD, "--amount", 500)
    assert refused.exit_code == 1
    assert "not in the registry" in refused.output
    result = _load(config, "--card", CARD, "--amount", 500, "--uid", "04A1B2C3")
    assert result.exit_code == 0, result.output
    assert f"load 1 of card {CARD}: 500 cents" in result.output
    with open_store(load_server_config(config)) as store:
        [item] = store.full_list("loads").added
        load = items.load_from_item(item)
        assert (load.card_number, load.load_seq, load.amount_cents) == (CARD, 1, 500)
        assert load.purse_key_b == masters().for_card(bytes.fromhex("04a1b2c3")).sector_key(PURSE_SECTOR,
                                                                                               KeyType.B)
        with store.engine.connect() as conn:
            [order] = conn.execute(select(LoadOrder.__table__)).all()
            [audit] = conn.execute(select(AuditEntry.__table__)).all()
    assert (order.channel, order.created_by) == ("office", audit.actor)
    assert audit.actor.startswith("cli:") and audit.action == "load.queue"


@pytest.mark.parametrize(("args", "message"), [
    (("--amount", 0, "--uid", "04a1b2c3"), "--amount"),
    (("--amount", 25_001, "--uid", "04a1b2c3"), "--amount"),
    (("--amount", 100, "--uid", "zz"), "not hex"),
    (("--amount", 100, "--uid", "0102"), "4 or 7 bytes"),
])
def test_bad_arguments_are_refused(config: Path, args: tuple, message: str) -> None:
    result = _load(config, "--card", CARD, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_server_web_serves_the_api_and_the_pages_until_stopped(config: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "citizencard", "server", "web", "--config", str(config),
                                "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as response:
                    health = json.load(response)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()  # type: ignore
                time.sleep(0.2)
        assert health["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/staff/sign-in", timeout=5) as response:
            assert response.status == 200 and "text/html" in response.headers["Content-Type"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert "back office on http://127.0.0.1" in process.stderr.read()  # type: ignore[union-attr]
