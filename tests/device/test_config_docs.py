"""Every key the configuration loader knows is documented in
docs/configuration.md, in its table's section, with its environment variable
and its default; and the page documents no key the loader does not know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device import toml_writer
from device.config import SETTINGS, TABLES, Setting

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

# Sections start at a heading naming a table: "## `[device]`", "### `[feedback.timings]`".
_HEADING = re.compile(r"^#{2,3} `\[([a-z_.]+)\]`$", re.MULTILINE)


def _sections() -> dict[str, str]:
    marks = list(_HEADING.finditer(DOC))
    return {m.group(1): DOC[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(DOC)]
            for i, m in enumerate(marks)}


def _row(setting: Setting) -> str:
    section = _sections().get(setting.table)
    assert section is not None, f"docs/configuration.md has no section for [{setting.table}]"
    rows = [line for line in section.splitlines() if line.startswith(f"| `{setting.key}` |")]
    assert rows, f"docs/configuration.md lacks {setting.name}"
    return rows[0]


def test_every_table_has_a_section() -> None:
    tables = {*TABLES, *(s.table for s in SETTINGS)}
    assert tables <= set(_sections()), f"undocumented tables: {tables - set(_sections())}"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_key_is_documented(setting: Setting) -> None:
    row = _row(setting)
    assert f"`{setting.env}`" in row, f"{setting.name}: the row does not give {setting.env}"
    default = "required" if setting.required else f"`{toml_writer.format_value(setting.default)}`"
    assert f"| {default} |" in row, f"{setting.name}: the row does not give its default {default}"


def test_no_unknown_key_is_documented() -> None:
    known = {(s.table, s.key) for s in SETTINGS}
    for table, section in _sections().items():
        for key in re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE):
            assert (table, key) in known, f"docs/configuration.md documents [{table}] {key}, which the loader refuses"
