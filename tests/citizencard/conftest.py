from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from citizencard.cli import main


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke


@pytest.fixture
def keys_file(tmp_path: Path, run) -> Path:
    path = tmp_path / "issuer.keys"
    assert run("keys", "init", path).exit_code == 0
    return path


@pytest.fixture
def dump(tmp_path: Path, run, keys_file: Path) -> Path:
    path = tmp_path / "card.mfd"
    result = run("card", "issue", "--keys", keys_file, "--out", path, "--uid", "0A0B0C0D", "--balance", "12.50",
                 "--profile", "senior", "--kind", "citizen", "--expires", "2030-06-30", "--issued", "2026-11-21",
                 "--card-number", "6033000000000042")
    assert result.exit_code == 0, result.output
    return path
