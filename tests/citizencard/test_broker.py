"""The local Mosquitto launcher: plain and TLS configurations, stop, kill -9
and restart with the persisted sessions, and a clear error without Mosquitto."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citizencard.broker import BrokerError, LocalBroker
from tests.mqtt import wait_for


def _client(broker: LocalBroker, client_id: str, received: list[bytes], *, cert: str | None = None,
            timeout: float = 5) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    if broker.tls_pki is not None:
        client.tls_set(ca_certs=str(broker.tls_pki / "ca.crt"),
                       certfile=None if cert is None else str(broker.tls_pki / f"{cert}.crt"),
                       keyfile=None if cert is None else str(broker.tls_pki / f"{cert}.key"),
                       cert_reqs=ssl.CERT_REQUIRED)
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, message: received.append(message.payload)
    client.on_subscribe = lambda *_: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=properties)
    client.loop_start()
    client.subscribe("t/#", qos=1)
    try:
        assert subscribed.wait(timeout), "not connected"
    except AssertionError:
        client.loop_stop()
        raise
    return client


def test_a_kill_and_restart_keeps_saved_sessions(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, autosave_interval=1).start()
    try:
        assert broker.running and broker.url == f"mqtt://127.0.0.1:{broker.port}"
        received: list[bytes] = []
        subscriber = _client(broker, "subscriber", received)
        subscriber.disconnect()
        subscriber.loop_stop()
        publisher = _client(broker, "publisher", [])
        publisher.publish("t/1", b"queued for the subscriber", qos=1).wait_for_publish(5)
        publisher.disconnect()
        publisher.loop_stop()
        broker.wait_for_save()
        port = broker.port
        broker.kill()
        assert not broker.running
        broker.restart()
        assert broker.port == port and broker.running
        subscriber = _client(broker, "subscriber", received)
        assert wait_for(lambda: received == [b"queued for the subscriber"])
        subscriber.disconnect()
        subscriber.loop_stop()
    finally:
        broker.stop()
    assert not broker.running
    broker.stop()  # idempotent


def test_the_tls_configuration_is_the_shipped_one(mosquitto_tls: LocalBroker) -> None:
    lines = [line for line in mosquitto_tls.config_path.read_text().splitlines() if not line.startswith("#")]
    text = "\n".join(lines)
    assert f"listener {mosquitto_tls.port} 127.0.0.1" in text and "require_certificate true" in text
    assert "acl_file" in text and str(mosquitto_tls.workdir) in text and "/etc/mosquitto" not in text
    assert text.count("persistence_location") == 1 and "autosave_interval 1" in text
    assert mosquitto_tls.url.startswith("mqtts://")
    received: list[bytes] = []
    client = _client(mosquitto_tls, "ingest-test", received, cert="ingest")
    client.disconnect()
    client.loop_stop()
    with pytest.raises((ssl.SSLError, OSError, AssertionError)):  # the handshake or the connection fails
        _client(mosquitto_tls, "anonymous", [], timeout=1)  # no client certificate


def test_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="mosquitto-nowhere is not installed"):
        LocalBroker(tmp_path, executable="mosquitto-nowhere").start()
    with pytest.raises(BrokerError, match=r"ca\.crt is missing"):
        LocalBroker(tmp_path, tls_pki=tmp_path / "no-pki").start()
    with pytest.raises(BrokerError, match="did not start"):
        LocalBroker(tmp_path, config_extra="no_such_option 1").start()
