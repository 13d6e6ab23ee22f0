"""The ``citizencard`` command: the root group and the error boundary.

Every program adds its group here. Errors of our packages become a one-line
message and exit status 1; usage errors exit with 2 (click's convention).
Nothing of ours ever ends in a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from card_layout.errors import CardError
from device.errors import DeviceError
from hardware.errors import HardwareError
from sync_server.errors import SyncServerError
from validator.errors import ValidatorError

from .commands.agent import agent
from .commands.card import card
from .commands.demo import demo
from .commands.keys import keys
from .commands.pki import pki
from .commands.reader import reader
from .commands.server import ingest, server
from .commands.validator import validator

OUR_ERRORS = (CardError, DeviceError, HardwareError, SyncServerError, ValidatorError)


class CitizenCardGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OUR_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=CitizenCardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="citizencard")
def main() -> None:
    """Citizen card platform: cards, readers, field devices and the back office."""


main.add_command(keys)
main.add_command(card)
main.add_command(demo)
main.add_command(reader)
main.add_command(validator)
main.add_command(pki)
main.add_command(agent)
main.add_command(ingest)
main.add_command(server)
