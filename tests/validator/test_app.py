"""The validator as ``open_validator`` assembles it, running while the sync
agent's process writes the same data directory through its own connections:
a card the agent blocks is refused at its next tap and accepted again once
unblocked; an update that fails, or is killed -9 half-way in another process,
leaves the validator on the list it holds; a newer fare table is charged from
the next tap (a bad one is refused and logged); a top-up the agent receives
is collected at the next tap."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from device.config import DeviceConfig, load_config, render_config
from device.denylist import DENYLIST_FILENAME, DenyEntry, DenyList
from device.lists import LISTS_FILENAME, ListStore, PendingLoad
from tests.factories import UID, identity, masters, validator_files
from validator.app import Validator, open_validator
from validator.fare_source import FARES_DOCUMENT
from validator.fares import DEFAULT_FARES
from validator.outcome import Decision, Reason, TapResult

from .cards import local

ROOT = Path(__file__).resolve().parents[2]
CARD = identity().card_number
T0 = local(2026, 11, 21, 8, 0)


def newer_fares(version: int, general: int) -> dict[str, object]:
    return {**DEFAULT_FARES, "version": version, "bus": {**DEFAULT_FARES["bus"], "fare": {"general": general}}}


@pytest.fixture
def config(tmp_path: Path) -> DeviceConfig:
    validator_files(tmp_path, 10_000)
    path = tmp_path / "bus.toml"
    path.write_text(render_config(device_id=1201, mode="bus", operator=1, location=12, reader="sim:card.mfd",
                                  keys="validator.keys", timezone="Europe/Madrid", data_dir="data",
                                  fares=DEFAULT_FARES))
    return load_config(path, environ={})


@pytest.fixture
def app(config: DeviceConfig) -> Iterator[Validator]:
    with open_validator(config, feedback=False) as opened:
        yield opened


@pytest.fixture
def agent_denylist(config: DeviceConfig, app: Validator) -> Iterator[DenyList]:
    """The agent's own connection to the validator's deny-list (opened after the validator)."""
    with DenyList(config.device.data_dir / DENYLIST_FILENAME) as opened:
        yield opened


@pytest.fixture
def agent_lists(config: DeviceConfig, app: Validator) -> Iterator[ListStore]:
    with ListStore(config.device.data_dir / LISTS_FILENAME) as opened:
        yield opened


def tap(app: Validator, day: int) -> TapResult:
    """A tap a day after the last (a new journey each time: no transfer, no day cap)."""
    return app.engine.tap(card_timeout=0.05, at=T0 + dt.timedelta(days=day))


def test_a_card_the_agent_blocks_is_refused_at_its_next_tap_and_accepted_once_unblocked(
        app: Validator, agent_denylist: DenyList) -> None:
    assert tap(app, 0).reason is Reason.APPROVED
    agent_denylist.apply_delta(0, 1, [DenyEntry(CARD, None, "stolen")], [])
    blocked = tap(app, 1)
    assert (blocked.decision, blocked.reason, blocked.details["block_reason"]) == \
        (Decision.DENIED, Reason.BLOCKED, "stolen")
    assert blocked.amount_cents == 0
    agent_denylist.apply_delta(1, 2, [DenyEntry(None, UID, "lost")], [])  # now by UID as well
    assert tap(app, 2).details["block_reason"] == "stolen"  # the card number's reason wins
    agent_denylist.apply_delta(2, 3, [], [DenyEntry(CARD, UID, "")])
    assert tap(app, 3).reason is Reason.APPROVED
    agent_denylist.apply_full(4, [DenyEntry(None, UID, "fraud")])  # a full list replacing everything
    assert tap(app, 4).details["block_reason"] == "fraud"


def test_an_update_that_fails_in_the_agent_leaves_the_validator_on_its_list(
        app: Validator, agent_denylist: DenyList) -> None:
    def entries() -> Iterator[DenyEntry]:
        yield DenyEntry(CARD, None, "stolen")
        raise ConnectionResetError("the list stopped arriving")

    with pytest.raises(ConnectionResetError):
        agent_denylist.apply_delta(0, 1, entries(), [])
    assert tap(app, 0).reason is Reason.APPROVED
    assert app.engine.denylist.version == 0


def test_an_update_killed_half_way_in_another_process_leaves_the_validator_on_its_list(
        config: DeviceConfig, app: Validator) -> None:
    path = config.device.data_dir / DENYLIST_FILENAME
    assert tap(app, 0).reason is Reason.APPROVED
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.denylist_writer", str(path), "--hang-blocking",
                               str(CARD)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.split() == ["written", "1"], writer.stderr.read() if writer.stderr else line
        assert tap(app, 1).reason is Reason.APPROVED  # written, not committed: not seen
    finally:
        writer.kill()
        writer.communicate()
    assert writer.returncode == -9
    assert tap(app, 2).reason is Reason.APPROVED  # killed: never seen
    assert app.engine.denylist.version == 0
    with DenyList(path) as agent:  # the agent, restarted, applies the update again
        assert agent.version == 0
        agent.apply_delta(0, 1, [DenyEntry(CARD, None, "stolen")], [])
    assert tap(app, 3).reason is Reason.BLOCKED


def test_a_newer_fare_table_is_charged_from_the_next_tap(app: Validator, agent_lists: ListStore,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    assert tap(app, 0).amount_cents == 150
    agent_lists.config.apply_update(None, 2, [(FARES_DOCUMENT, newer_fares(2, 175))])
    assert tap(app, 1).amount_cents == 175
    with caplog.at_level(logging.ERROR, logger="validator.fare_source"):
        agent_lists.config.apply_update(2, 3, [(FARES_DOCUMENT, {**newer_fares(3, 200), "bus": {}})])
        assert tap(app, 2).amount_cents == 175  # refused: the table in force stays
    assert "fare table (configuration version 3) is refused" in caplog.text
    agent_lists.config.apply_update(3, 4, [(FARES_DOCUMENT, newer_fares(4, 190))])
    assert tap(app, 3).amount_cents == 190


def test_a_top_up_the_agent_receives_is_collected_at_the_next_tap(app: Validator, agent_lists: ListStore) -> None:
    first = tap(app, 0)
    assert first.balance_cents == 10_000 - 150
    key = masters().for_card(UID).sector_key(PURSE_SECTOR, KeyType.B)
    agent_lists.pending_loads.apply_full(1, [PendingLoad(CARD, 1, 2000, key, T0)])
    assert tap(app, 1).balance_cents == 10_000 - 150 + 2000 - 150
    assert tap(app, 2).balance_cents == 10_000 - 150 + 2000 - 300  # once
