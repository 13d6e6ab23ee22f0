"""``citizencard ingest`` (the ingest worker) and ``citizencard server``: set up
the sync server's database and keys, register devices, block cards, queue
top-ups, and show what the devices hold."""

from __future__ import annotations

import dataclasses
import getpass
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
from sync_server.audit import Actor
from sync_server.config import load_server_config
from sync_server.ingest import IngestWorker
from sync_server.loads import MAX_LOAD_CENTS, LoadOrders
from sync_server.passwords import check_password
from sync_server.registry import Registry, states
from sync_server.setup import init_server, open_store
from sync_server.staff import STAFF_ROLES, Staff

F = TypeVar("F", bound=Callable[..., Any])

CLI_ACTOR = Actor(f"cli:{getpass.getuser()}", "admin")
"""Who acts in the audit log when the server's own command line changes something."""

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
                              list_poll=config.list_poll, policy=config.policy)
        click.echo(f"ingest {config.client_id}: {config.broker.host}:{config.broker.port}", err=True)
        worker.run(stop)
        counters = worker.counters
        click.echo(f"ingest stopped: {counters.entries} entries in {counters.batches} batches "
                   f"({counters.inserted} new, {counters.duplicates} redelivered), "
                   f"{counters.rejected_total} messages rejected, {counters.auto_blocked} cards blocked by the "
                   "reconciliation policy", err=True)


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


@server.command("web")
@CONFIG_OPTION
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put a TLS proxy in front).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Requests served at once.")
def web(config_path: Path, host: str, port: int, threads: int) -> None:
    """Serve the back office: the REST API (/api/v1) and the staff pages (/staff), with waitress."""
    # The web stack (Flask, the pages, waitress) is loaded only to serve: device commands stay light.
    import waitress

    from sync_server.web import create_app

    app = create_app(config_path=config_path)
    click.echo(f"back office on http://{host}:{port}/staff/ (API: /api/v1/openapi.json)", err=True)
    waitress.serve(app, host=host, port=port, threads=threads, ident="citizencard")


@server.command("load")
@CONFIG_OPTION
@click.option("--card", "card_number", required=True, type=click.IntRange(0, 2**64 - 1))
@click.option("--amount", "amount_cents", required=True, type=click.IntRange(1, MAX_LOAD_CENTS), help="Cents.")
@click.option("--uid", help="The card's UID, hex: only for a card the registry does not hold.")
def load(config_path: Path, card_number: int, amount_cents: int, uid: str | None) -> None:
    """Queue a top-up (paid at the card office) for the card's next tap on any validator."""
    config = load_server_config(config_path)
    masters = keystore.load(config.issuer_keys, role="issuer")
    with open_store(config) as store:
        orders = LoadOrders(store, lambda card_uid: masters.for_card(card_uid).sector_key(PURSE_SECTOR, KeyType.B),
                            store.now)
        with store.transaction(f"queueing a top-up for card {card_number}") as conn:
            order = orders.queue(conn, card_number, amount_cents, "office", CLI_ACTOR, uid=_uid(uid))
    click.echo(f"load {order.load_seq} of card {card_number}: {amount_cents} cents, pending until its next tap")


def _new_password() -> str:
    """A new staff password, typed twice without echo, checked against the rules before anything is written."""
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="password") from exc
    return password


@server.command("user-add")
@CONFIG_OPTION
@click.option("--username", required=True, help="A unique name, 1 to 64 characters.")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES), help="What the user may do in the API.")
@click.option("--password", "with_password", is_flag=True,
              help="Also ask (twice) for a password to sign in to the staff pages with.")
def user_add(config_path: Path, username: str, role: str, with_password: bool) -> None:
    """Create a back-office user with a role and an API token; prints the
    token, once (only its hash is kept)."""
    password = _new_password() if with_password else None
    with open_store(load_server_config(config_path)) as store:
        staff = Staff(store.engine)
        member = staff.add_user(username, role)
        if password is not None:
            staff.set_password(username, password)
        token = staff.issue_token(member.id)
    if password is not None:
        click.echo(f"user {username!r} may sign in to the staff pages", err=True)
    click.echo(f"user {username!r} created with role {role}; its API token (shown only now):", err=True)
    click.echo(token)


@server.command("passwd")
@CONFIG_OPTION
@click.argument("username")
def passwd(config_path: Path, username: str) -> None:
    """Set or change the password USERNAME signs in to the staff pages with
    (asked twice); the user's signed-in browsers are signed out."""
    password = _new_password()
    with open_store(load_server_config(config_path)) as store:
        Staff(store.engine).set_password(username, password)
    click.echo(f"password of {username!r} set; their staff page sessions have ended", err=True)


@server.command("users")
@CONFIG_OPTION
def users(config_path: Path) -> None:
    """Every back-office user: role, whether they may sign in to the staff pages, tokens in use, last use."""
    with open_store(load_server_config(config_path)) as store:
        found = Staff(store.engine).users()
    for user in found:
        last = "never" if user.last_used_at is None else f"{user.last_used_at:%Y-%m-%d %H:%M} UTC"
        click.echo(f"{user.username:<24} {user.role:<15} {'DISABLED' if user.disabled else 'enabled':<9} "
                   f"{'password' if user.has_password else 'no password':<12} {user.tokens} token(s), "
                   f"last used {last}")


def _staff_change(config_path: Path, change: Callable[[Staff], str]) -> None:
    with open_store(load_server_config(config_path)) as store:
        click.echo(change(Staff(store.engine)), err=True)


@server.command("user-disable")
@CONFIG_OPTION
@click.argument("username")
def user_disable(config_path: Path, username: str) -> None:
    """Refuse USERNAME's tokens and sign-ins at once and end their page sessions."""
    _staff_change(config_path, lambda staff: f"user {staff.set_disabled(username, True).username!r} disabled")


@server.command("user-enable")
@CONFIG_OPTION
@click.argument("username")
def user_enable(config_path: Path, username: str) -> None:
    """Let a disabled USERNAME in again (their tokens not revoked work again)."""
    _staff_change(config_path, lambda staff: f"user {staff.set_disabled(username, False).username!r} enabled")


@server.command("token-add")
@CONFIG_OPTION
@click.argument("username")
def token_add(config_path: Path, username: str) -> None:
    """A new API token for USERNAME, printed once (only its hash is kept)."""
    with open_store(load_server_config(config_path)) as store:
        staff = Staff(store.engine)
        token = staff.issue_token(staff.member(username).id)
    click.echo(f"a new API token of {username!r} (shown only now):", err=True)
    click.echo(token)


@server.command("token-revoke")
@CONFIG_OPTION
@click.argument("username")
def token_revoke(config_path: Path, username: str) -> None:
    """Revoke every API token of USERNAME (a token lost or a program retired)."""
    _staff_change(config_path, lambda staff: f"{staff.revoke_tokens(username)} token(s) of {username!r} revoked")


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


@server.command("expire-cards")
@CONFIG_OPTION
def expire_cards(config_path: Path) -> None:
    """Mark the registry's cards past their expiry date as expired and put
    them on the deny-list (run it daily, e.g. from cron)."""
    with open_store(load_server_config(config_path)) as store:
        expired = states.expire(Registry(store))
    click.echo(f"{len(expired)} card(s) expired")
    for card_number in expired:
        click.echo(card_number)
