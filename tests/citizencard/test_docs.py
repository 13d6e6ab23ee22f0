"""Every command and every option of `citizencard` is documented in docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import click

from citizencard.cli import main

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


def test_every_command_has_a_section() -> None:
    for path, _ in _commands(main):
        assert f"`citizencard {' '.join(path)}" in DOC, f"docs/cli.md lacks `citizencard {' '.join(path)}`"


def test_every_option_is_documented() -> None:
    for path, command in _commands(main):
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert f"`{opt}" in DOC, f"docs/cli.md lacks {opt} of `citizencard {' '.join(path)}`"
