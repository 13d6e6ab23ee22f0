"""``citizencard pki``: the sync network's certificate authority, the broker's
certificate and the devices' and ingest workers' client certificates."""

from __future__ import annotations

from pathlib import Path

import click

from device.pki import init_ca, issue


@click.group()
def pki() -> None:
    """Certificates for the MQTT sync network (a dedicated CA)."""


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create a new certificate authority in DIRECTORY (ca.crt, ca.key mode 0600)."""
    made = init_ca(directory)
    click.echo(f"certificate authority: {made.certificate}")


@pki.command("broker")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", "names", multiple=True, required=True,
              help="A DNS name or IP address clients use for the broker (repeatable).")
def broker(directory: Path, names: tuple[str, ...]) -> None:
    """Issue the broker's server certificate (broker.crt, broker.key)."""
    made = issue(directory, "broker", server_names=names)
    click.echo(f"broker certificate: {made.certificate}")


@pki.command("client")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("identity")
def client(directory: Path, identity: str) -> None:
    """Issue a client certificate whose common name, IDENTITY, is the MQTT
    username: a device id (e.g. 1201) or "ingest" for ingest workers."""
    if not (identity.isdigit() or identity == "ingest"):
        raise click.BadParameter("a device id (digits) or 'ingest'", param_hint="IDENTITY")
    made = issue(directory, identity)
    click.echo(f"client certificate for {identity}: {made.certificate}")
