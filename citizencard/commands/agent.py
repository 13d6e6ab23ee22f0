"""``citizencard agent``: the device's sync agent, beside the validator."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from device.config import load_config
from device.sync.agent import Agent


@contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    # A handler of this run only (not basicConfig): the command also runs inside tests.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("device")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The device configuration (its [sync] table).")
@click.option("--once", is_flag=True, help="Exit once the server has acknowledged every journal entry.")
@click.option("-v", "--verbose", is_flag=True, help="Log every batch, ack and list at debug level.")
def agent(config_path: Path, once: bool, verbose: bool) -> None:
    """Run the device's sync agent until SIGTERM or Ctrl-C: send the journal
    to the server, apply the lists it sends, report status. Exits 0 when
    stopped, 1 (one line on stderr) when a key file is missing or the network
    thread fails."""
    config = load_config(config_path)
    sync_agent = Agent(config)
    stop = threading.Event()
    with _logging(verbose), _stop_on_signals(stop):
        sync_agent.run(stop, until_synced=once)
