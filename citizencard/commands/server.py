"""``citizencard ingest`` (the ingest worker) and ``citizencard server``: set up
the sync server's database and keys, register devices, block cards, queue
top-ups, and show what the devices hold."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from device import keystore
from device.protocol import signing
from sync_server.config import load_server_config
from sync_server.ingest import IngestWorker
from sync_server.setup import init_server, open_store
from sync_server.staff import STAFF_ROLES, Staff

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_OPTION = click.option("--config", "config_path", required=True,
                             type=click.Path(dir_okay=False, path_type=Path), help="The server's TOML file.")


def _uid(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not hex", param_hint="--uid") from None
    if len(uid) not in (4, 7):
        raise click.BadParameter("a UID is 4 or 7 bytes", param_hint="--uid")
    return uid


@click.command()
@CONFIG_OPTION
@click.option("-v", "--verbose", is_flag=True, help="Log every connection and rejection at debug level.")
def ingest(config_path: Path, verbose: bool) -> None:
    """Run an ingest worker until SIGTERM or SIGINT: verify, store and
    acknowledge the devices' transactions; send list updates down."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_server_config(config_path)
    key = signing.load_private(config.signing_key)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    with open_store(config) as store:
        worker = IngestWorker(store, config.broker, config.client_id, key, group=config.group,
                              list_poll=config.list_poll)
        click.echo(f"ingest {config.client_id}: {config.broker.host}:{config.broker.port}", err=True)
        worker.run(stop)
        counters = worker.counters
        click.echo(f"ingest stopped: {counters.entries} entries in {counters.batches} batches "
                   f"({counters.inserted} new, {counters.duplicates} redelivered), "
                   f"{counters.rejected_total} messages rejected", err=True)


@click.group()
def server() -> None:
    """The sync server: database, keys, devices, lists."""


@server.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--database", default="sqlite:///server.sqlite3", show_default=True,
              help="SQLAlchemy URL; a relative sqlite path is relative to DIRECTORY.")
@click.option("--broker-host", default="127.0.0.1", show_default=True)
@click.option("--broker-port", default=8883, show_default=True, type=click.IntRange(1, 65535))
@click.option("--pki", "pki_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The directory of `citizencard pki` (ca.crt, ingest.crt, ingest.key); without: plain TCP.")
def init(directory: Path, database: str, broker_host: str, broker_port: int, pki_dir: Path | None) -> None:
    """Write server.toml and a new server signing key (server.key, server.pub)
    in DIRECTORY, and create the database."""
    config_path = init_server(directory, database=database, broker_host=broker_host, broker_port=broker_port,
                              pki=pki_dir)
    click.echo(f"wrote {config_path}, server.key (mode 0600) and server.pub; the database is ready")


@server.command("device-add")
@CONFIG_OPTION
@click.option("--id", "device_id", required=True, type=click.IntRange(1, 2**32 - 1))
@click.option("--public-key", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The device's sync public key (citizencard keys sync).")
@click.option("--mode", type=click.Choice(["bus", "bike", "ev", "kiosk"]), default="bus", show_default=True)
@click.option("--operator", type=click.IntRange(0, 255), default=1, show_default=True)
@click.option("--location", type=click.IntRange(0, 65535), default=0, show_default=True)
def device_add(config_path: Path, device_id: int, public_key: Path, mode: str, operator: int, location: int) -> None:
    """Register a device and the key it signs its messages with."""
    raw = signing.public_bytes(signing.load_public(public_key))
    with open_store(load_server_config(config_path)) as store:
        store.register_device(device_id, raw, mode=mode, operator=operator, location=location)
    click.echo(f"device {device_id} registered")


def _card_options(command: F) -> F:
    command = click.option("--uid", help="The card's UID, hex (4 or 7 bytes).")(command)
    return click.option("--card", "card_number", type=click.IntRange(0, 2**64 - 1), help="The card number.")(command)


@server.command("block")
@CONFIG_OPTION
@_card_options
@click.option("--reason", required=True, help="Shown to the rider, e.g. 'lost'.")
def block(config_path: Path, card_number: int | None, uid: str | None, reason: str) -> None:
    """Put a card on the deny-list (by number, UID or both)."""
    if card_number is None and uid is None:
        raise click.UsageError("give --card, --uid or both")
    with open_store(load_server_config(config_path)) as store:
        version = store.block(card_number=card_number, uid=_uid(uid), reason=reason)
    click.echo(f"deny-list version {version}")


@server.command("unblock")
@CONFIG_OPTION
@_card_options
def unblock(config_path: Path, card_number: int | None, uid: str | None) -> None:
    """Take a card off the deny-list."""
    if card_number is None and uid is None:
        raise click.UsageError("give --card, --uid or both")
    with open_store(load_server_config(config_path)) as store:
        version = store.unblock(card_number=card_number, uid=_uid(uid))
    click.echo(f"deny-list version {version}")


@server.command("load")
@CONFIG_OPTION
@click.option("--card", "card_number", required=True, type=click.IntRange(0, 2**64 - 1))
@click.option("--uid", required=True, help="The card's UID, hex: its purse key B is derived from it.")
@click.option("--amount", "amount_cents", required=True, type=click.IntRange(1, 10_000_00), help="Cents.")
def load(config_path: Path, card_number: int, uid: str, amount_cents: int) -> None:
    """Queue a top-up for the card's next tap on any validator."""
    config = load_server_config(config_path)
    card_uid = _uid(uid)
    assert card_uid is not None
    purse_key = keystore.load(config.issuer_keys, role="issuer").for_card(card_uid).sector_key(PURSE_SECTOR,
                                                                                                KeyType.B)
    with open_store(config) as store:
        load_seq, version = store.add_load(card_number, amount_cents, purse_key)
    click.echo(f"load {load_seq} of card {card_number}: {amount_cents} cents (loads version {version})")


@server.command("user-add")
@CONFIG_OPTION
@click.option("--username", required=True, help="A unique name, 1 to 64 characters.")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES), help="What the user may do in the API.")
def user_add(config_path: Path, username: str, role: str) -> None:
    """Create a back-office user with a role and an API token; prints the
    token, once (only its hash is kept)."""
    with open_store(load_server_config(config_path)) as store:
        staff = Staff(store.engine)
        member = staff.add_user(username, role)
        token = staff.issue_token(member.id)
    click.echo(f"user {username!r} created with role {role}; its API token (shown only now):", err=True)
    click.echo(token)


@server.command("status")
@CONFIG_OPTION
def status(config_path: Path) -> None:
    """The list versions, each device's versions and lag, the transactions and anomalies, as JSON."""
    with open_store(load_server_config(config_path)) as store:
        report = {
            "lists": {name: store.list_version(name) for name in ("denylist", "loads", "config")},
            "devices": {str(k): v for k, v in store.device_list_versions().items()},
            "lag": {str(k): v for k, v in store.list_lag().items()},
            "transactions": store.transaction_count(),
            "anomalies": [dataclasses.asdict(a) for a in store.anomalies()],
        }
    click.echo(json.dumps(report, indent=2, default=str))
