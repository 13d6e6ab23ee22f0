"""``citizencard demo``: a whole city on one machine, the sync network and
the back office included.

Starts what a city runs: a Mosquitto broker (plain TCP on loopback; with
``--tls`` the shipped TLS configuration and ACL, with certificates from a new
certificate authority), the server (its configuration, signing key, SQLite
database and the card issuer's keys: :func:`citizencard.city.build_city`),
the back office (the operator and its services, the staff user ``demo``;
its web application with the staff pages on ``--host``/``--port``), an
ingest worker, and four field devices, two bus validators, a bike dock and
an EV charger, each with its sync agent: the real programs, in threads of
this process (:class:`citizencard.network.CityNetwork`,
:class:`citizencard.simulation.backoffice.WebServer`), the validators reading
simulated cards (:mod:`citizencard.simulation.fleet`).

Then it issues the cards through the registry
(:mod:`citizencard.simulation.riders`), replays a scripted morning
(:mod:`citizencard.simulation.story`) and runs the checks
(:mod:`citizencard.simulation.checks`). Then, unless ``--duration 0``, the
live city: riders tap at ``--rate`` taps per minute in real time
(:mod:`citizencard.simulation.traffic`) until Ctrl-C or ``--duration``
seconds; the journals reach the server, the checks run again, everything
stops. Exit status 1 when a check fails.

Files under ``--dir``: the card dumps (``card-NNNN.mfd``), ``broker/`` (the
broker's configuration, persistence and log), ``pki/`` (with ``--tls``),
``city/server/`` and ``city/devices/<id>/`` (:mod:`citizencard.city`), and
``city.log`` (what the programs logged).
"""

from __future__ import annotations

import logging
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

import click

from device import keystore
from device.pki import init_ca, issue
from sync_server.config import load_server_config
from sync_server.errors import SyncServerError
from sync_server.registry import Registry
from sync_server.setup import open_store

from ..broker import BrokerError, LocalBroker
from ..city import build_city
from ..network import CityNetwork, NetworkError
from ..simulation import backoffice
from ..simulation.checks import end_checks, show, wait_for_sync
from ..simulation.fleet import DEVICES, LOCATIONS, MODES, Fleet, name
from ..simulation.riders import CardOffice, Rider, population
from ..simulation.story import STORY_PLANS, SYNC_TIMEOUT, Morning
from ..simulation.traffic import Traffic


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the city, the card dumps and the logs (default: a new temporary directory).")
@click.option("--cards", type=click.IntRange(len(STORY_PLANS), 10_000), default=8, show_default=True)
@click.option("--taps", type=click.IntRange(1, 1_000_000), default=40, show_default=True,
              help="Riders' taps of the scripted morning, besides the story's own.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed, for a repeatable run.")
@click.option("--tls", is_flag=True, help="Run the broker with the shipped TLS configuration and ACL "
                                          "(a new CA under --dir, client certificates for every program).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the back office's web server.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the back office's web server (0: a free one).")
@click.option("--rate", type=click.FloatRange(1, 60_000), default=60.0, show_default=True,
              help="Taps per minute in the live city.")
@click.option("--duration", type=click.FloatRange(0), default=None,
              help="Seconds the live city runs after the morning (0: none; default: until Ctrl-C).")
def demo(workdir: Path | None, cards: int, taps: int, seed: int, tls: bool, host: str, port: int, rate: float,
         duration: float | None) -> None:
    """A city on one machine: a broker, the server, the back office with its
    staff pages, an ingest worker, two bus validators, a bike dock and an EV
    charger with their sync agents; cards issued through the registry; a
    scripted morning, then riders tapping live until Ctrl-C; the checks."""
    began = time.monotonic()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="citizencard-demo-"))
    if (workdir / "city").exists():
        raise click.UsageError(f"{workdir} holds an earlier demo's city; give a new --dir")
    workdir.mkdir(parents=True, exist_ok=True)
    click.echo(f"working in {workdir} (the programs log to {workdir / 'city.log'})")
    rng = random.Random(seed)
    with _log_to(workdir / "city.log"), ExitStack() as stack:
        try:
            broker = stack.enter_context(_broker(workdir, tls))
        except BrokerError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"broker: mosquitto (pid {broker.pid}) on {broker.url} "
                   + ("(TLS: client certificates of the demo's CA, the shipped ACL)" if tls else "(plain TCP)"))
        city = build_city(workdir / "city", broker, DEVICES, modes=MODES, locations=LOCATIONS, list_poll=0.1)
        click.echo(f"server: {city.server_config.parent} (SQLite database, signing key, issuer keys); devices "
                   f"{', '.join(name(d) for d in city.devices)} registered")
        store = stack.enter_context(open_store(load_server_config(city.server_config), migrate=False))
        registry = Registry(store)
        try:
            backoffice.set_up(registry)
            web = stack.enter_context(backoffice.WebServer(city.server_config, host, port))
        except (OSError, SyncServerError) as exc:
            raise click.ClickException(f"the back office cannot start on {host}:{port}: {exc}"
                                       + (" (try --port 0)" if isinstance(exc, OSError) else "")) from exc
        click.echo(f"staff pages: {web.url}/staff/  sign in as {backoffice.DEMO_USER} / {backoffice.DEMO_PASSWORD}")
        started = time.monotonic()
        try:
            network = stack.enter_context(CityNetwork(city))
        except NetworkError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"ingest worker and {len(network.agents)} sync agents connected in "
                   f"{time.monotonic() - started:.2f} s")

        def check() -> None:
            network.check()
            web.check()

        fleet = Fleet(city.devices, stack)
        issuer = keystore.load(city.issuer_keys)
        office = CardOffice(registry, backoffice.ACTOR, issuer, workdir, rng)
        try:
            riders = [office.issue(index, plan) for index, plan in enumerate(population(cards, rng, STORY_PLANS))]
            _show_riders(riders)
            story = Morning(rng, fleet, office, riders, check, click.echo).run(taps)
            click.echo("end of the morning: waiting for the journals to reach the server")
            waited = wait_for_sync(fleet, SYNC_TIMEOUT, check)
            checks = story + end_checks(fleet, store, riders, issuer.validator_subset(), waited)
            show(checks, click.echo)
            if duration != 0:
                _live_city(rng, fleet, office, riders, rate, duration, web.url, check)
                waited = wait_for_sync(fleet, SYNC_TIMEOUT, check)
                final = end_checks(fleet, store, riders, issuer.validator_subset(), waited)
                show(final, click.echo)
                checks += final
            click.echo("stopping the city: the web server, the sync agents, the ingest worker, the broker")
            stack.close()
        except (NetworkError, SyncServerError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"city stopped; the whole run took {time.monotonic() - began:.1f} s")
    click.echo(f"cards are in {workdir}; try: citizencard card show {riders[0].dump} --keys {city.issuer_keys}")
    failed = sum(not check.ok for check in checks)
    if failed:
        click.echo(f"{failed} check{'s' if failed > 1 else ''} failed", err=True)
        raise click.exceptions.Exit(1)


def _show_riders(riders: list[Rider]) -> None:
    tourists = sum(r.kind == "tourist" for r in riders)
    click.echo(f"issued {len(riders)} cards through the registry ({len(riders) - tourists} to holders, "
               f"{tourists} tourist cards)")
    for rider in riders[:10]:
        click.echo(f"  {rider.describe()}")
    if len(riders) > 10:
        click.echo(f"  ... and {len(riders) - 10} more (card-NNNN.mfd under --dir)")


def _live_city(rng: random.Random, fleet: Fleet, office: CardOffice, riders: list[Rider], rate: float,
               duration: float | None, url: str, check: Callable[[], None]) -> None:
    """Riders tap until Ctrl-C or ``duration``."""
    stop = threading.Event()
    until = "Ctrl-C" if duration is None else f"{duration:g} s or Ctrl-C"
    click.echo(f"the live city: {rate:g} taps a minute until {until}; block a card at {url}/staff/denylist and "
               "watch its next tap")
    traffic = Traffic(rng, fleet, office, riders, rate, check, click.echo)
    with _first_interrupt_stops(stop):
        traffic.run(stop, duration)
        click.echo(f"stopping after {traffic.taps} live taps: waiting for the journals to reach the server"
                   + (" (Ctrl-C again to stop at once)" if stop.is_set() else ""))


@contextmanager
def _first_interrupt_stops(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C (SIGINT) sets ``stop``; a second one interrupts at once (KeyboardInterrupt, and
    everything started is stopped on the way out). Only in the main thread, where signals are delivered."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _broker(workdir: Path, tls: bool) -> Iterator[LocalBroker]:
    pki = None
    if tls:
        pki = workdir / "pki"
        init_ca(pki)
        issue(pki, "broker", server_names=("127.0.0.1", "localhost"))
    with LocalBroker(workdir / "broker", tls_pki=pki) as broker:
        yield broker


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The programs' log lines go to ``path``, not among the demo's story."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()
