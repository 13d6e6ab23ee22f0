"""Fixtures shared by the hardware tests: a card dump on disk, and the one
private pcscd of the session (pcscd 1.9.9 allows one per machine), used by the
PC/SC tests and the reader contract suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.pcsc.pcscd import VPCD_DRIVER, Pcscd, system_pcscd_running
from hardware.sim.dump import save_dump
from tests.builders import blank_image


@pytest.fixture
def dump_path(tmp_path: Path) -> Path:
    """A factory-fresh 1K card saved as a dump file."""
    path = tmp_path / "card.mfd"
    save_dump(path, blank_image())
    return path


def _unavailable(reason: str) -> None:
    # CI installs the stack (./dev): a missing piece there is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pcscd_session() -> Iterator[Pcscd]:
    pytest.importorskip("smartcard", reason="pyscard (the pcsc extra) is not installed")
    if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
        _unavailable("pcscd and vsmartcard-vpcd are not installed (apt-get install pcscd vsmartcard-vpcd)")
    if system_pcscd_running():
        _unavailable("another pcscd owns /run/pcscd/pcscd.comm: the tests need their own")
    daemon = Pcscd().start()
    yield daemon
    daemon.stop()


@pytest.fixture
def pcscd(pcscd_session: Pcscd) -> Pcscd:
    """The session's pcscd, running (started again if a test left it down)."""
    if not pcscd_session.running:
        pcscd_session.start()
    return pcscd_session
