"""Session-wide test settings and services.

The one private pcscd of the session (pcscd 1.9.9 allows one per machine),
used by the PC/SC tests, the reader contract suite and the CLI tests.

Hypothesis profiles: ``dev`` (default) explores fresh random examples each
run; ``ci`` (chosen when the CI environment variable is set) runs more
examples, derandomized so a CI failure reproduces exactly, and keeps no
example database. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

import os
import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from hardware.pcsc.pcscd import VPCD_DRIVER, Pcscd, system_pcscd_running

# Deadlines measure wall time, which a shared 2-core CI machine makes noisy.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


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
