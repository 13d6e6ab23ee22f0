"""``citizencard card``: issue, show and verify cards, as dump files or
through a reader URI (``sim:PATH.mfd``; later ``pcsc:``, ``pn532:``, ``nfcpy:``)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from card_layout.errors import CardError
from card_layout.image import ImageBlocks, check_trailers, describe_sectors
from card_layout.keys import MasterKeys
from card_layout.operations.audit import AuditReport, Finding, audit_card, audit_records
from card_layout.operations.personalise import Issuance, personalise, wipe
from card_layout.operations.state import CardState, open_channel, read_card, read_state
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import CardKind, FareProfile, Identity
from device import keystore
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import load_dump, save_dump
from hardware.sim.reader import SimReader
from hardware.uri import is_reader_uri, open_reader

from ..views import money, sector_dicts, sector_lines, state_dict, state_lines

DEFAULT_CITY = "ESGIJ"
VALIDITY_YEARS = {CardKind.CITIZEN: 5, CardKind.COMPANY: 5, CardKind.TOURIST: 1}


def _names(kind: type[Any]) -> list[str]:
    return [member.name.lower() for member in kind]


def parse_euros(text: str) -> int:
    """'12.50' -> 1250 cents.

    :raises click.BadParameter: for anything but a non-negative amount with at most 2 decimals.
    """
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount in euros such as 12.50") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise click.BadParameter(f"{text!r}: give a non-negative amount with at most two decimals")
    cents = int(amount * 100)
    if cents >= 2**31:
        raise click.BadParameter(f"{text!r} does not fit the purse")
    return cents


def _parse_uid(text: str | None) -> bytes:
    if text is None:
        return secrets.token_bytes(4)
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not hexadecimal") from None
    if len(uid) != 4:
        raise click.BadParameter("give a 4-byte UID, 8 hex digits (dumps carry single-size UIDs)")
    return uid


def _parse_contract(text: str) -> Contract:
    """KIND:FROM:UNTIL[:OPERATOR[:PRODUCT]], e.g. transit_pass:2026-11-01:2026-11-30:1:30."""
    parts = text.split(":")
    if not 3 <= len(parts) <= 5:
        raise click.BadParameter(f"{text!r}: expected KIND:FROM:UNTIL[:OPERATOR[:PRODUCT]]")
    try:
        kind = ContractKind[parts[0].upper()]
    except KeyError:
        raise click.BadParameter(f"unknown contract kind {parts[0]!r}; one of {', '.join(_names(ContractKind))}") \
            from None
    try:
        numbers = [int(p) for p in parts[3:]]
        return Contract(kind, dt.date.fromisoformat(parts[1]), dt.date.fromisoformat(parts[2]), *numbers)
    except (ValueError, CardError) as exc:
        raise click.BadParameter(f"{text!r}: {exc}") from exc


def _load_keys(path: Path | None) -> MasterKeys | None:
    return None if path is None else keystore.load(path)


@click.group()
def card() -> None:
    """Issue, show and verify citizen cards."""


@card.command("issue")
@click.option("--keys", "keys_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Issuer key file (with key B).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Dump file to write the new card to.")
@click.option("--uid", help="Card UID, 8 hex digits (default: random).")
@click.option("--kind", type=click.Choice(_names(CardKind)), default="citizen", show_default=True)
@click.option("--profile", type=click.Choice(_names(FareProfile)), default="general", show_default=True)
@click.option("--balance", default="0", show_default=True, help="Initial purse balance in euros.")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), help="Expiry date (default: 5 years, tourist 1).")
@click.option("--issued", type=click.DateTime(["%Y-%m-%d"]), help="Issue date (default: today).")
@click.option("--card-number", type=click.IntRange(0, 2**64 - 1), help="Card number (default: random, 16 digits).")
@click.option("--city", default=DEFAULT_CITY, show_default=True, help="Issuing city, UN/LOCODE.")
@click.option("--holder", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Holder reference in the back office.")
@click.option("--contract", "contracts", multiple=True, help="KIND:FROM:UNTIL[:OPERATOR[:PRODUCT]], repeatable.")
@click.option("--force", is_flag=True, help="Overwrite an existing dump.")
@click.option("--json", "as_json", is_flag=True, help="Print the issued card as JSON.")
@click.option("--server", "server_url", help="Back office URL: issue --application as the server says.")
@click.option("--token", help="With --server: an API token of an issuance_point user.")
@click.option("--application", "application_id", type=click.IntRange(1, 2**63 - 1),
              help="With --server: the approved application to issue.")
def issue(keys_path: Path, out: Path, uid: str | None, kind: str, profile: str, balance: str,
          expires: dt.datetime | None, issued: dt.datetime | None, card_number: int | None, city: str,
          holder: int, contracts: tuple[str, ...], force: bool, as_json: bool, server_url: str | None,
          token: str | None, application_id: int | None) -> None:
    """Personalise a simulated blank card and save its dump: with the values
    given, or (--server) with what the back office assigns to an approved
    application."""
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists; it may be a card in use (use --force to overwrite)")
    if server_url is not None or token is not None or application_id is not None:
        _check_server_mode(server_url, token, application_id)
        assert server_url is not None and token is not None and application_id is not None
        _issue_from_server(server_url, token, application_id, keys_path, out, _parse_uid(uid), city, as_json)
        return
    masters = keystore.load(keys_path)
    card_kind = CardKind[kind.upper()]
    issued_on = issued.date() if issued else dt.date.today()
    expires_on = expires.date() if expires else issued_on.replace(year=issued_on.year + VALIDITY_YEARS[card_kind])
    try:
        identity = Identity(
            card_number=card_number if card_number is not None else secrets.randbelow(9 * 10**15) + 10**15,
            city=city, kind=card_kind, profile=FareProfile[profile.upper()],
            issued=issued_on, expires=expires_on, holder=holder,
        )
    except CardError as exc:
        raise click.BadParameter(exc.reason) from exc
    blank = SimulatedCard.blank(_parse_uid(uid))
    state = personalise(SimReader(blank), masters, Issuance(
        identity, parse_euros(balance), tuple(_parse_contract(c) for c in contracts),
        issued_at=dt.datetime.now(dt.UTC),
    ))
    save_dump(out, blank.image())
    if as_json:
        click.echo(json.dumps(state_dict(state), indent=2))
    else:
        click.echo(f"issued card {identity.card_number} uid {state.uid.hex().upper()} "
                   f"({kind}, {profile}, balance {money(state.balance_cents)}, expires {expires_on}) -> {out}")


SERVER_TIMEOUT = 30.0
"""Seconds to wait for the back office's answer."""
_LOCAL_ONLY = ("kind", "profile", "balance", "expires", "issued", "card_number", "holder", "contracts")


def _check_server_mode(server_url: str | None, token: str | None, application_id: int | None) -> None:
    if server_url is None or token is None or application_id is None:
        raise click.UsageError("issuing from the back office needs --server, --token and --application")
    context = click.get_current_context()
    given = [name for name in _LOCAL_ONLY
             if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"with --server the back office decides {', '.join(given)}: leave them out")


def request_issue(server_url: str, token: str, application_id: int, uid: bytes) -> dict[str, Any]:
    """Ask the back office to issue ``application_id`` to ``uid``: the card to personalise.

    :raises click.ClickException: when the server cannot be reached or refuses (its message shown).
    """
    url = f"{server_url.rstrip('/')}/api/v1/applications/{application_id}/issue"
    request = urllib.request.Request(url, data=json.dumps({"uid": uid.hex().upper()}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise click.ClickException(f"the back office refused (HTTP {exc.code}): {message}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise click.ClickException(f"cannot get the card from {server_url}: {exc}") from exc


def _issue_from_server(server_url: str, token: str, application_id: int, keys_path: Path, out: Path, uid: bytes,
                       city: str, as_json: bool) -> None:
    masters = keystore.load(keys_path)
    card = request_issue(server_url, token, application_id, uid)
    try:
        identity = Identity(
            card_number=card["card_number"], city=city, kind=CardKind[card["kind"].upper()],
            profile=FareProfile[card["profile"].upper()], issued=dt.date.fromisoformat(card["issued_on"]),
            expires=dt.date.fromisoformat(card["expires_on"]), holder=card["holder_id"] or 0)
        contracts = tuple(Contract(ContractKind[c["kind"].upper()], dt.date.fromisoformat(c["valid_from"]),
                                   dt.date.fromisoformat(c["valid_until"]), c["operator"], c["product"])
                          for c in card["contracts"])
        balance_cents = int(card["balance_cents"])
    except (KeyError, TypeError, ValueError, AttributeError, CardError) as exc:
        raise click.ClickException(f"the back office's answer cannot be personalised: {exc!r:.200}") from exc
    if card.get("uid", "").upper() != uid.hex().upper():
        raise click.ClickException(f"the back office issued UID {card.get('uid')!r}, not {uid.hex().upper()}")
    blank = SimulatedCard.blank(uid)
    state = personalise(SimReader(blank), masters, Issuance(identity, balance_cents, contracts,
                                                            issued_at=dt.datetime.now(dt.UTC)))
    save_dump(out, blank.image())
    if as_json:
        click.echo(json.dumps({**state_dict(state), "application_id": application_id}, indent=2))
    else:
        click.echo(f"issued application {application_id} as card {identity.card_number} uid {uid.hex().upper()} "
                   f"({card['kind']}, {card['profile']}, balance {money(balance_cents)}, "
                   f"{len(contracts)} contract(s), expires {identity.expires}) -> {out}")


CARD_TIMEOUT = click.option("--timeout", type=click.FloatRange(0, 600), default=5.0, show_default=True,
                             help="With a reader URI: seconds to wait for a card.")


@contextmanager
def card_in_field(uri: str, timeout: float) -> Iterator[Reader]:
    """The reader of ``uri`` with a card selected in its field, closed afterwards.

    :raises ReaderTimeoutError: when no card comes in time.
    """
    device = open_reader(uri)
    try:
        device.wait_for_card(timeout)
        yield device
    finally:
        device.close()


def _read_through_reader(uri: str, masters: MasterKeys | None, timeout: float) -> CardState:
    if masters is None:
        raise click.UsageError("reading a card through a reader needs --keys")
    with card_in_field(uri, timeout) as device:
        return read_state(open_channel(device, masters), contracts=True, session=True, events=True)


@card.command("show")
@click.argument("target")
@click.option("--keys", "keys_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Key file: check every record's MAC.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@CARD_TIMEOUT
def show(target: str, keys_path: Path | None, as_json: bool, timeout: float) -> None:
    """Decode TARGET, a dump file or a reader URI: sectors, access rights, MAD,
    value blocks and records (MACs checked with --keys)."""
    masters = _load_keys(keys_path)
    error: str | None = None
    state: CardState | None = None
    sectors: list[dict[str, Any]] = []
    lines: list[str] = []
    if is_reader_uri(target):
        state = _read_through_reader(target, masters, timeout)
    else:
        image = load_dump(target)
        views = describe_sectors(image)
        sectors, lines = sector_dicts(views), sector_lines(views)
        try:
            state = read_state(ImageBlocks(image, None if masters is None else masters.mac),
                               contracts=True, session=True, events=True)
        except CardError as exc:
            error = str(exc)
    verified = masters is not None and state is not None
    if as_json:
        document: dict[str, Any] = dict.fromkeys(
            ("uid", "card_number", "kind", "profile", "expires", "balance_cents", "counter"))
        if state is not None:
            document.update(state_dict(state))
        document.update(verified=verified, error=error, sectors=sectors)
        click.echo(json.dumps(document, indent=2))
    else:
        if state is not None:
            click.echo("\n".join(state_lines(state)))
            click.echo("records verified (MACs checked)" if verified else "records NOT verified (no --keys)")
        click.echo("\n".join(lines))
    if error is not None:
        raise click.ClickException(f"records not readable: {error}")


def _report_for_dump(path: str, masters: MasterKeys) -> AuditReport:
    image = load_dump(path)
    source = ImageBlocks(image, masters.mac)
    trailer_findings = [Finding(True, problem) for problem in check_trailers(image, masters)]
    state, findings = audit_records(source)
    return AuditReport(source.uid, state, (*trailer_findings, *findings))


@card.command("verify")
@click.argument("target")
@click.option("--keys", "keys_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="List every finding, not only the first error.")
@CARD_TIMEOUT
def verify(target: str, keys_path: Path, show_all: bool, timeout: float) -> None:
    """Exit 0 when TARGET (a dump or a reader URI) is a genuine, consistent
    card; otherwise exit 1 with a one-line reason naming the sector and block."""
    masters = keystore.load(keys_path)
    if is_reader_uri(target):
        with card_in_field(target, timeout) as device:
            report = audit_card(device, masters)
    else:
        report = _report_for_dump(target, masters)
    if show_all:
        for finding in report.findings:
            click.echo(("error: " if finding.error else "note: ") + finding.message)
    if not report.genuine:
        click.echo(f"not genuine: {report.first_error}")
        raise SystemExit(1)
    state = report.state
    assert state is not None
    click.echo(f"genuine: card {state.identity.card_number} uid {state.uid.hex().upper()}, "
               f"balance {money(state.balance_cents)}, counter {state.counter}")


@card.command("wipe")
@click.argument("target")
@click.option("--keys", "keys_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Issuer key file (with key B).")
@click.option("--force", is_flag=True, help="Wipe even a card that still holds money or contracts.")
@CARD_TIMEOUT
def wipe_card(target: str, keys_path: Path, force: bool, timeout: float) -> None:
    """Return the card TARGET (a dump or a reader URI) to transport state, so
    it can be issued again. Refuses a card that still holds money or
    contracts unless --force (refund them in the back office first)."""
    masters = keystore.load(keys_path)
    with card_in_field(target if is_reader_uri(target) else f"sim:{target}", timeout) as device:
        try:
            state: CardState | None = read_card(device, masters, contracts=True)
        except CardError:
            state = None  # torn or foreign: nothing to protect, wipe decides
        if state is not None and not force and (state.balance_cents or (state.contracts and
                                                                         state.contracts.contracts)):
            raise click.ClickException(f"the card holds {money(state.balance_cents)} and "
                                       f"{len(state.contracts.contracts) if state.contracts else 0} contract(s); "
                                       "refund them first, or use --force")
        device.uid()
        wipe(device, masters)
    click.echo(f"wiped {target}: transport keys, no data; it can be issued again")
