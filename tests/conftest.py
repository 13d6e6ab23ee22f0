"""Session-wide test settings and services.

The one private pcscd of the session (pcscd 1.9.9 allows one per machine),
used by the PC/SC tests, the reader contract suite and the CLI tests.

Mosquitto brokers on free ports, one per test: ``mosquitto`` (plain TCP on
127.0.0.1) and ``mosquitto_tls`` (the shipped TLS configuration and ACL,
with a fresh sync CA: a broker certificate for 127.0.0.1 and localhost, and
client certificates ``ingest`` and :data:`TLS_DEVICES`). Helpers for them are
in tests/mqtt.py.

Hypothesis profiles: ``dev`` (default) explores fresh random examples each
run; ``ci`` (chosen when the CI environment variable is set) runs more
examples, derandomized so a CI failure reproduces exactly, and keeps no
example database. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from citizencard.broker import LocalBroker
from device.pki import init_ca, issue
from hardware.pcsc.pcscd import VPCD_DRIVER, Pcscd, system_pcscd_running

TLS_DEVICES = (1201, 1202, 1203)
"""Devices with a client certificate in ``mosquitto_tls``'s pki."""

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


def _broker(workdir: Path, tls_pki: Path | None = None) -> Iterator[LocalBroker]:
    if shutil.which("mosquitto") is None:
        _unavailable("mosquitto is not installed (./dev installs it)")
    broker = LocalBroker(workdir, tls_pki=tls_pki, autosave_interval=1)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A fresh Mosquitto on a free port of 127.0.0.1, plain TCP, anonymous; stopped after the test."""
    yield from _broker(tmp_path_factory.mktemp("mosquitto"))


@pytest.fixture(scope="session")
def sync_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sync CA with a broker certificate and client certificates for ``ingest`` and :data:`TLS_DEVICES`."""
    pki = tmp_path_factory.mktemp("pki")
    init_ca(pki)
    issue(pki, "broker", server_names=("127.0.0.1", "localhost"))
    for name in ("ingest", *map(str, TLS_DEVICES)):
        issue(pki, name)
    return pki


@pytest.fixture
def mosquitto_tls(tmp_path_factory: pytest.TempPathFactory, sync_pki: Path) -> Iterator[LocalBroker]:
    """A fresh Mosquitto with the shipped TLS configuration and ACL on a free port (``.tls_pki`` is its pki)."""
    yield from _broker(tmp_path_factory.mktemp("mosquitto"), sync_pki)
