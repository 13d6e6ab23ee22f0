"""``citizencard validator``: write a working configuration, decide one tap,
or run the validator's loop with rider feedback."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
from pathlib import Path

import click

from device import keystore
from device.config import DeviceConfig, DeviceMode, load_config, render_config
from device.errors import ConfigError
from hardware.errors import ReaderUnavailableError
from hardware.feedback.outcome import Outcome
from validator.app import open_validator
from validator.engine import utc_now
from validator.errors import FareTableError
from validator.fares import DEFAULT_FARES
from validator.outcome import Decision, Reason, TapResult

MODES = [m.value for m in DeviceMode]


class ConfigurationError(click.ClickException):
    """A usage or configuration error: exit status 2, as click's usage errors."""

    exit_code = 2


def _load(path: Path) -> DeviceConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc


def _moment(text: str | None, config: DeviceConfig) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"--at {text!r} is not an ISO time such as 2026-11-21T08:15:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=config.device.timezone)


@click.group()
def validator() -> None:
    """Bus, bike-dock and EV-charger validators, deciding every tap offline."""


@validator.command("init")
@click.option("--mode", type=click.Choice(MODES), required=True)
@click.option("--keys", "keys_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A key file; an issuer's is reduced to the validator's subset (no key B) next to the config.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Config file to write.")
@click.option("--device-id", type=click.IntRange(1, 2**32 - 1), default=1001, show_default=True)
@click.option("--operator", type=click.IntRange(0, 255), default=1, show_default=True)
@click.option("--location", type=click.IntRange(0, 65535), default=1, show_default=True,
              help="Line (bus), dock (bike) or charging site (ev).")
@click.option("--reader", default="sim:card.mfd", show_default=True, help="Reader URI.")
@click.option("--data-dir", default="data", show_default=True, help="Journal and lists (relative to the config).")
@click.option("--timezone", default="Europe/Madrid", show_default=True, help="Local time zone for fare days.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init(mode: str, keys_path: Path, out: Path, device_id: int, operator: int, location: int, reader: str,
         data_dir: str, timezone: str, force: bool) -> None:
    """Write a working configuration with the default fare table."""
    if out.exists() and not force:
        raise ConfigurationError(f"{out} exists (use --force to overwrite)")
    masters = keystore.load(keys_path)
    keys_for_config: Path = keys_path.resolve()
    if masters.can_credit:
        keys_for_config = out.resolve().parent / "validator.keys"
        if keys_for_config.exists():
            if keystore.load(keys_for_config).key_a != masters.key_a:
                raise ConfigurationError(f"{keys_for_config} exists and holds other keys")
        else:
            keystore.save(keys_for_config, masters.validator_subset())
    try:
        text = render_config(device_id=device_id, mode=mode, operator=operator, location=location, reader=reader,
                             keys=keys_for_config, timezone=timezone, data_dir=data_dir, fares=DEFAULT_FARES)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    click.echo(f"wrote {out} ({mode} validator {device_id}, keys {keys_for_config}, no key B)")


@validator.command("tap")
@click.option("--mode", type=click.Choice(MODES), help="The app (default: the config's).")
@click.option("--reader", "reader_uri", help="Reader URI (default: the config's).")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--at", "at_text", help="Decide as at this ISO time (local time when no offset is given).")
@click.option("--dock-bike", type=click.IntRange(0, 2**32 - 1),
              help="Bike mode with the simulated dock: a rider pushes this bike into the dock before tapping.")
def tap(mode: str | None, reader_uri: str | None, config_path: Path, at_text: str | None,
        dock_bike: int | None) -> None:
    """One tap: print the decision as JSON; exit 0 when the rider may go, 1 when denied."""
    config = _load(config_path)
    at = _moment(at_text, config)
    try:
        with open_validator(config, mode=DeviceMode(mode) if mode else None, reader_uri=reader_uri, feedback=False,
                            clock=(lambda: at) if at else utc_now) as app:
            if dock_bike is not None:
                if app.dock is None:
                    raise ConfigurationError("--dock-bike needs --mode bike")
                app.dock.dock(dock_bike)
            result = app.engine.tap(card_timeout=config.tap.card_timeout, at=at)
    except FareTableError as exc:
        raise ConfigurationError(str(exc)) from exc
    click.echo(json.dumps(result.to_json()))
    raise SystemExit(0 if result.may_go else 1)


def _outcome(result: TapResult) -> Outcome:
    if result.decision is Decision.DENIED:
        if result.reason in (Reason.TORN_RETRY, Reason.CARD_UNREADABLE, Reason.MULTIPLE_CARDS):
            return Outcome.attention(result.words)
        return Outcome.denied(result.words, result.balance_cents)
    return Outcome.approved(result.words, result.balance_cents)


@validator.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--max-taps", type=click.IntRange(1), help="Stop after this many taps (default: run until stopped).")
def run(config_path: Path, max_taps: int | None) -> None:
    """The validator's loop: wait for a card, decide, tell the rider, wait for
    the card to leave; one JSON line per tap. Stops on Ctrl-C or SIGTERM."""
    config = _load(config_path)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    taps = 0
    try:
        with open_validator(config) as app:
            assert app.feedback is not None
            app.feedback.idle()
            while not stop.is_set() and (max_taps is None or taps < max_taps):
                try:
                    result = app.engine.tap(card_timeout=min(1.0, config.tap.card_timeout))
                except ReaderUnavailableError as exc:
                    app.feedback.show(Outcome.denied("Out of service"))
                    click.echo(json.dumps({"error": str(exc)}), err=True)
                    stop.wait(1.0)
                    continue
                if result.reason is Reason.NO_CARD:
                    continue
                taps += 1
                app.feedback.show(_outcome(result))
                click.echo(json.dumps(result.to_json()))
                app.reader.wait_for_removal(config.tap.remove_timeout)
                app.feedback.idle()
    except FareTableError as exc:
        raise ConfigurationError(str(exc)) from exc
