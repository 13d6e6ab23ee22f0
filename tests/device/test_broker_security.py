"""The shipped broker configuration (deploy/mosquitto) on a real Mosquitto on a
free port, with certificates from device/pki.py: only clients of our CA get
in, each device publishes only in its own subtree, ingest workers share the
devices' up topics."""

from __future__ import annotations

import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citizencard.broker import LocalBroker
from device.pki import PkiError, init_ca, issue

paho = pytest.importorskip("paho.mqtt.client")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (./dev installs it)")
    pki = tmp_path_factory.mktemp("pki")
    init_ca(pki)
    issue(pki, "broker", server_names=("localhost", "127.0.0.1"))
    for name in ("1201", "1202", "ingest"):
        issue(pki, name)
    # the shipped configuration and ACL, rewritten for a free port and these files (citizencard/broker.py)
    with LocalBroker(tmp_path_factory.mktemp("mosquitto"), tls_pki=pki) as local:
        yield local.port, pki


class Client:
    def __init__(self, port: int, pki: Path, name: str | None, ca: Path | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: int | None = None
        self.mqtt = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-{name}-{port}",
                                protocol=paho.MQTTv5)
        certfile = None if name is None else str(pki / f"{name}.crt")
        keyfile = None if name is None else str(pki / f"{name}.key")
        self.mqtt.tls_set(ca_certs=str(ca or pki / "ca.crt"), certfile=certfile, keyfile=keyfile,
                          cert_reqs=ssl.CERT_REQUIRED)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = lambda _c, _u, msg: self.received.append((msg.topic, msg.payload))
        self.port = port

    def _on_connect(self, _c, _u, _f, reason, _p) -> None:
        if reason.is_failure:
            self.refused = reason.value
        else:
            self.connected.set()

    def connect(self) -> bool:
        try:
            self.mqtt.connect("127.0.0.1", self.port)
        except (ssl.SSLError, OSError):
            return False
        self.mqtt.loop_start()
        return self.connected.wait(3)

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()


def _wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_devices_publish_only_in_their_own_subtree(broker) -> None:
    port, pki = broker
    ingest, device = Client(port, pki, "ingest"), Client(port, pki, "1201")
    assert ingest.connect() and device.connect()
    try:
        ingest.mqtt.subscribe("$share/ingest/cc/v1/dev/+/tx", qos=1)
        time.sleep(0.3)
        device.mqtt.publish("cc/v1/dev/1201/tx", b"mine", qos=1).wait_for_publish(3)
        device.mqtt.publish("cc/v1/dev/1202/tx", b"forged", qos=1).wait_for_publish(3)
        assert _wait_for(lambda: ("cc/v1/dev/1201/tx", b"mine") in ingest.received)
        time.sleep(0.3)
        assert ("cc/v1/dev/1202/tx", b"forged") not in ingest.received
    finally:
        ingest.close()
        device.close()


def test_a_device_reads_only_its_own_acks(broker) -> None:
    port, pki = broker
    ingest, device = Client(port, pki, "ingest"), Client(port, pki, "1201")
    assert ingest.connect() and device.connect()
    try:
        device.mqtt.subscribe([("cc/v1/dev/1201/ack", 1), ("cc/v1/dev/1202/ack", 1), ("cc/v1/lists/+", 1)])
        time.sleep(0.3)
        for topic in ("cc/v1/dev/1201/ack", "cc/v1/dev/1202/ack", "cc/v1/lists/denylist"):
            ingest.mqtt.publish(topic, topic.encode(), qos=1).wait_for_publish(3)
        assert _wait_for(lambda: len(device.received) >= 2)
        time.sleep(0.3)
        assert sorted(t for t, _ in device.received) == ["cc/v1/dev/1201/ack", "cc/v1/lists/denylist"]
    finally:
        ingest.close()
        device.close()


def test_clients_without_our_certificate_are_refused(broker, tmp_path: Path) -> None:
    port, pki = broker
    assert not Client(port, pki, None).connect()  # no client certificate
    other = tmp_path / "other"
    init_ca(other)
    issue(other, "1201")
    assert not Client(port, other, "1201", ca=pki / "ca.crt").connect()  # a certificate of another CA


def test_the_pki_refuses_to_overwrite_keys(tmp_path: Path) -> None:
    init_ca(tmp_path)
    with pytest.raises(PkiError, match="refusing to overwrite"):
        init_ca(tmp_path)
    issue(tmp_path, "1300")
    with pytest.raises(PkiError, match="refusing to overwrite"):
        issue(tmp_path, "1300")
    with pytest.raises(PkiError, match="no usable certificate authority"):
        issue(tmp_path / "nowhere", "1301")
    assert oct((tmp_path / "1300.key").stat().st_mode & 0o777) == "0o600"
