"""``citizencard keys``: master secrets files."""

from __future__ import annotations

from pathlib import Path

import click

from device import keystore


@click.group()
def keys() -> None:
    """Master secrets: create and derive role key files."""


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
