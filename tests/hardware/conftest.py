"""Fixtures shared by the hardware tests: a card dump on disk. (The session's
private pcscd is in tests/conftest.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.sim.dump import save_dump
from tests.builders import blank_image


@pytest.fixture
def dump_path(tmp_path: Path) -> Path:
    """A factory-fresh 1K card saved as a dump file."""
    path = tmp_path / "card.mfd"
    save_dump(path, blank_image())
    return path
