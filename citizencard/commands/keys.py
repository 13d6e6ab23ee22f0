"""``citizencard keys``: master secrets files, and the device's sync signing key."""

from __future__ import annotations

from pathlib import Path

import click

from device import keystore
from device.protocol import signing


@click.group()
def keys() -> None:
    """Master secrets: create and derive role key files; sync signing keys."""


@keys.command("init")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--role", type=click.Choice(keystore.ROLES), default="issuer", show_default=True,
              help="issuer: keys A, B and MAC (kiosks, issuance point); validator: no key B.")
@click.option("--force", is_flag=True, help="Overwrite an existing file (its cards become unreadable).")
def init(path: Path, role: str, force: bool) -> None:
    """Write new random master secrets to PATH (mode 0600)."""
    keystore.save(path, keystore.generate(role), overwrite=force)
    click.echo(f"wrote {role} master secrets to {path} (mode 0600)")


@keys.command("validator")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def validator(source: Path, target: Path) -> None:
    """Write the validator's subset of SOURCE (no key B) to TARGET."""
    keystore.save(target, keystore.load(source, role="validator"))
    click.echo(f"wrote validator master secrets (no key B) to {target} (mode 0600)")


@keys.command("sync")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The private key file to write; the public key goes to the same path plus .pub.")
def sync(out: Path) -> None:
    """Write a new Ed25519 key for the device's sync agent: the private key
    to OUT (mode 0600, [sync] signing_key) and the public key to OUT.pub, which
    the server registers (citizencard server device add --public-key)."""
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise click.ClickException(f"{path} exists; refusing to overwrite a key")
    key = signing.generate()
    signing.save_private(out, key)
    signing.save_public(public, key)
    click.echo(f"wrote the sync signing key to {out} (mode 0600) and its public key to {public}")
