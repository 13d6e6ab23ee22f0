"""``citizencard reader``: find readers, look at the card in a reader's field,
and run the reader emulators (a virtual card for pcscd's vpcd driver, a PN532
on a pseudo-terminal) for a card dump."""

from __future__ import annotations

import importlib
import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from card_layout.access import KeyType
from card_layout.errors import CardError
from card_layout.keys import MasterKeys
from card_layout.layout import MAD_BLOCKS, holds_application
from card_layout.mad import Mad
from device import keystore
from hardware.errors import HardwareError
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import load_dump, save_dump
from hardware.sim.field import SimField

from .card import card_in_field

MAD_PUBLIC_KEY = bytes.fromhex("A0A1A2A3A4A5")  # AN10787's public key A for sector 0
# backend name, module with list_readers(), the extra that installs its library
DISCOVERY = (("pcsc", "hardware.pcsc.reader", "pcsc"), ("pn532", "hardware.pn532.reader", "pn532"),
             ("nfcpy", "hardware.nfcpy_reader", "nfc"))
SAVE_INTERVAL = 0.2


@click.group()
def reader() -> None:
    """Card readers: list them, inspect the card in the field, emulate one."""


@reader.command("list")
@click.option("--serial-port", "serial_ports", multiple=True,
              help="Probe this serial port for a PN532 (repeatable) instead of every port the system lists.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_readers(serial_ports: tuple[str, ...], as_json: bool) -> None:
    """The readers found: PC/SC readers, serial ports answering as a PN532, nfcpy USB devices."""
    found: list[dict[str, str]] = []
    problems: list[str] = []
    for backend, module_name, extra in DISCOVERY:
        try:
            module = importlib.import_module(module_name)
            listed = module.list_readers(list(serial_ports)) if backend == "pn532" and serial_ports \
                else module.list_readers()
            found += [{"backend": backend, "uri": uri, "description": text} for uri, text in listed]
        except ImportError as exc:
            problems.append(f"{backend}: not available ({exc.name} missing: pip install 'citizencard[{extra}]')")
        except HardwareError as exc:
            problems.append(f"{backend}: {exc}")
    if as_json:
        click.echo(json.dumps({"readers": found, "problems": problems}, indent=2))
        return
    for entry in found:
        click.echo(f"{entry['uri']:<40} {entry['description']}")
    if not found:
        click.echo("no reader found")
    for problem in problems:
        click.echo(problem, err=True)


def _mad_status(reader_: Reader, uid: bytes, masters: MasterKeys | None) -> tuple[str, bool | None]:
    """What the MAD says, read with the public MAD key, else this card's derived key A."""
    attempts = [("the public MAD key", MAD_PUBLIC_KEY)]
    if masters is not None:
        attempts.append(("this card's derived key A", masters.for_card(uid).sector_key(0, KeyType.A)))
    for how, key in attempts:
        try:
            reader_.authenticate(MAD_BLOCKS[0], KeyType.A, key)
        except CardError:
            reader_.uid()  # a refused authentication halts the card
            continue
        try:
            mad = Mad.decode(reader_.read_block(MAD_BLOCKS[0]) + reader_.read_block(MAD_BLOCKS[1]))
        except CardError as exc:
            return f"no valid MAD ({exc.reason})", False
        if holds_application(mad):
            return f"citizen card application (MAD read with {how})", True
        return f"MAD present but it does not name the citizen-card application (read with {how})", False
    hint = "" if masters is not None else "; give --keys to read it with this card's keys"
    return "MAD not readable with the public MAD key" + hint, None


@reader.command("info")
@click.argument("uri")
@click.option("--keys", "keys_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Key file, to read a MAD protected by this card's keys.")
@click.option("--timeout", type=click.FloatRange(0, 600), default=5.0, show_default=True,
              help="Seconds to wait for a card.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(uri: str, keys_path: Path | None, timeout: float, as_json: bool) -> None:
    """The card in the field of URI: UID, type, and whether it holds our application."""
    masters = None if keys_path is None else keystore.load(keys_path)
    with card_in_field(uri, timeout) as device:
        uid = device.uid()
        application, ours = _mad_status(device, uid, masters)
    document: dict[str, Any] = {"reader": device.name, "uid": uid.hex().upper(), "type": "MIFARE Classic 1K",
                                "application": application, "citizen_card": ours}
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"reader: {device.name}\ncard: UID {document['uid']} ({document['type']})\n"
                   f"application: {application}")


@reader.command("emulate")
@click.argument("kind", type=click.Choice(["pcsc", "pn532"]))
@click.option("--card", "dump", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The card dump to present; changes are written back to it.")
@click.option("--vpcd-port", type=click.IntRange(1, 65535), default=35963, show_default=True,
              help="pcsc: the TCP port of pcscd's vpcd reader driver.")
def emulate(kind: str, dump: Path, vpcd_port: int) -> None:
    """Run an emulator for DUMP until Ctrl-C (or SIGTERM). The first line
    printed is the reader URI to use; pcsc needs a running pcscd with
    vsmartcard's vpcd driver."""
    card = SimulatedCard(load_dump(dump))
    field = SimField(card)
    if kind == "pcsc":
        from hardware.pcsc.pcscd import system_pcscd_running
        from hardware.pcsc.vcard import VirtualCard

        if not system_pcscd_running():
            raise click.ClickException("pcscd is not running: start it (e.g. `sudo service pcscd start`, or `pcscd`), "
                                       "with vsmartcard's vpcd driver installed (package vsmartcard-vpcd)")
        emulator: Any = VirtualCard(field, port=vpcd_port)
        emulator.start()
        uri = f"pcsc:{emulator.reader_name}"
    else:
        from hardware.pn532.emulator import Pn532Emulator

        emulator = Pn532Emulator(field)
        emulator.start()
        uri = f"pn532:{emulator.slave_path}"
    click.echo(uri)
    saved = card.write_count
    stop = threading.Event()
    # Ctrl-C, or a service manager's SIGTERM; installed explicitly because a
    # process started in the background inherits SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(SAVE_INTERVAL):
            if card.write_count != saved:
                save_dump(dump, card.image())
                saved = card.write_count
    finally:
        emulator.stop()
        if card.write_count != saved:
            save_dump(dump, card.image())
    click.echo(f"stopped; {dump} holds the card as it is now", err=True)
