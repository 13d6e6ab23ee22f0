"""Shared helpers for the tests that talk to a real Mosquitto (the broker
fixtures ``mosquitto`` and ``mosquitto_tls`` live in tests/conftest.py):

- :class:`StandInServer`: the server's side of the sync protocol, built from
  the protocol codec alone: it reads the devices' batches, statuses and list
  requests, answers batches with signed acks (or withholds them), keeps one
  entry per ``(device_id, seq)`` at the highest revision as the real server
  does, and publishes signed (or forged) list updates;
- :func:`device_files`: a device's config file, its signing key and the
  server's public key, ready for :class:`device.sync.agent.Agent` or
  ``citizencard agent``;
- :func:`wait_for`: poll a condition with a deadline;
- :class:`RawClient`: publishes anything, for the tests of bad messages.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citizencard.broker import LocalBroker
from device.config import render_config
from device.protocol import topics
from device.protocol.codec import SERVER_SIGNER, decode, encode
from device.protocol.errors import ProtocolError
from device.protocol.messages import Ack, ListRequest, ListUpdate, Message, Status, TxBatch, ack_ranges
from device.protocol.signing import generate, load_private, save_private, save_public


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Whether ``predicate()`` became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class DeviceFiles:
    """What :func:`device_files` wrote."""

    config: Path
    device_id: int
    signing_key: Ed25519PrivateKey
    data_dir: Path


@dataclass
class ServerKeys:
    private: Ed25519PrivateKey = field(default_factory=generate)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def device_files(directory: Path, device_id: int, broker: LocalBroker, server: ServerKeys, *,
                 sync: dict[str, Any] | None = None) -> DeviceFiles:
    """A device config in ``directory`` for ``broker`` (TLS with the client
    certificate ``<device_id>`` of its pki when it has one), a new signing
    key (``sync.key``) and the server's public key (``server.pub``); called
    again for the same directory, it rewrites the config and keeps the keys.
    ``sync`` replaces ``[sync]`` values (test-friendly timings by default)."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "sync.key").exists():  # a second call rewrites the config only
        key = load_private(directory / "sync.key")
    else:
        key = generate()
        save_private(directory / "sync.key", key)
        save_public(directory / "server.pub", server.public)
    values: dict[str, Any] = {"port": broker.port, "heartbeat": 60.0, "ack_timeout": 2.0, "reconnect_min": 0.05,
                              "reconnect_max": 0.5, "batch_size": 50}
    if broker.tls_pki is not None:
        values.update(ca=str(broker.tls_pki / "ca.crt"), cert=str(broker.tls_pki / f"{device_id}.crt"),
                      key=str(broker.tls_pki / f"{device_id}.key"))
    values.update(sync or {})
    text = render_config(device_id=device_id, mode="bus", operator=1, location=12, reader="sim:card.mfd",
                         keys="validator.keys", timezone="Europe/Madrid", data_dir="data", sync=values)
    config = directory / "config.toml"
    config.write_text(text)
    return DeviceFiles(config, device_id, key, directory / "data")


class StandInServer:
    """The server's end of the sync protocol on ``broker``, for tests: it
    stands in for the ingest worker. ``device_keys`` maps device ids to their
    public keys; messages of other signers are counted in :attr:`rejected`.

    Everything received is kept, under a lock, in :attr:`stored` (``(device,
    seq)`` -> highest rev, as the server's unique key), :attr:`deliveries`
    (how often each ``(device, seq, rev)`` arrived), :attr:`statuses` and
    :attr:`list_requests`. While :attr:`acking` is set (the default) each
    batch is answered with a signed ack of all its entries.
    """

    def __init__(self, broker: LocalBroker, server: ServerKeys, device_keys: dict[int, Ed25519PublicKey], *,
                 client_id: str = "stand-in-server") -> None:
        self.broker = broker
        self.server = server
        self.device_keys = dict(device_keys)
        self.acking = threading.Event()
        self.acking.set()
        self.lock = threading.Lock()
        self.stored: dict[tuple[int, int], int] = {}
        self.deliveries: Counter[tuple[int, int, int]] = Counter()
        self.batches: list[TxBatch] = []
        self.statuses: list[Status] = []
        self.retained_statuses: list[Status] = []
        self.list_requests: list[ListRequest] = []
        self.rejected: list[str] = []
        self.errors: list[BaseException] = []
        self.connected = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if broker.tls_pki is not None:
            self.client.tls_set(ca_certs=str(broker.tls_pki / "ca.crt"), certfile=str(broker.tls_pki / "ingest.crt"),
                                keyfile=str(broker.tls_pki / "ingest.key"), cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(0.05, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.client.on_subscribe = lambda *_: self.connected.set()  # connected and subscribed
        self.client.on_message = self._on_message

    def start(self) -> StandInServer:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", self.broker.port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self.connected.wait(5), "the stand-in server could not connect"
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- what came up ------------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(f"{topics.PREFIX}/dev/+/{leaf}", 1) for leaf in topics.UP_LEAVES])

    def _key(self, signer: str) -> Ed25519PublicKey | None:
        prefix, _, number = signer.partition(":")
        return self.device_keys.get(int(number)) if prefix == "device" and number.isdigit() else None

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        try:
            self._receive(message.topic, message.payload, bool(message.retain))
        except BaseException as exc:  # a test helper must not die silently either
            self.errors.append(exc)
            raise

    def _receive(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:
            return  # a cleared retained status
        try:
            device_id, leaf = topics.parse_device_topic(topic)
            signer, decoded = decode(payload, self._key)
            if signer != f"device:{device_id}" or getattr(decoded, "device_id", None) != device_id:
                raise ProtocolError(f"{signer} on {topic}")
        except ProtocolError as exc:
            with self.lock:
                self.rejected.append(f"{topic}: {exc}")
            return
        with self.lock:
            if isinstance(decoded, TxBatch) and leaf == "tx":
                self.batches.append(decoded)
                for entry in decoded.entries:
                    self.deliveries[(device_id, entry.seq, entry.rev)] += 1
                    key = (device_id, entry.seq)
                    self.stored[key] = max(entry.rev, self.stored.get(key, -1))
            elif isinstance(decoded, Status) and leaf == "status":
                (self.retained_statuses if retained else self.statuses).append(decoded)
            elif isinstance(decoded, ListRequest) and leaf == "list-request":
                self.list_requests.append(decoded)
        if isinstance(decoded, TxBatch) and self.acking.is_set():
            # the real server commits first; the ack names every (seq, rev) it now holds. No waiting in a callback.
            self.ack(device_id, [(entry.seq, entry.rev) for entry in decoded.entries], wait=False)

    # -- what goes down ----------------------------------------------------------------------------

    def sign(self, message: Message, key: Ed25519PrivateKey | None = None) -> bytes:
        return encode(message, key or self.server.private, SERVER_SIGNER)

    def ack(self, device_id: int, pairs: Iterable[tuple[int, int]], *, key: Ed25519PrivateKey | None = None,
            topic_device: int | None = None, wait: bool = True) -> None:
        """Publish a signed ack of ``pairs`` for ``device_id`` (on the ack
        topic of ``topic_device``, by default the same device)."""
        ack = Ack(device_id=device_id, committed_at=now_iso(),
                  acks=ack_ranges(pairs))
        self.publish(topics.ack_topic(topic_device if topic_device is not None else device_id), self.sign(ack, key),
                     wait=wait)

    def publish_list(self, update: ListUpdate, *, device_id: int | None = None,
                     key: Ed25519PrivateKey | None = None) -> None:
        """Publish ``update``, signed: on the device's own list topic when
        ``device_id`` is given, else broadcast."""
        topic = (topics.device_list_topic(device_id, update.list) if device_id is not None
                 else topics.broadcast_list_topic(update.list))
        self.publish(topic, self.sign(update, key))

    def publish(self, topic: str, payload: bytes, *, wait: bool = True) -> None:
        """Publish at QoS 1; ``wait`` for the broker's PUBACK (never from a callback)."""
        info = self.client.publish(topic, payload, qos=1)
        if wait:
            info.wait_for_publish(5)

    # -- reading what was kept ---------------------------------------------------------------------

    def last_status(self, device_id: int, *, online: bool | None = None) -> Status | None:
        with self.lock:
            found = [s for s in self.statuses + self.retained_statuses
                     if s.device_id == device_id and (online is None or s.online == online)]
        return found[-1] if found else None

    def stored_seqs(self, device_id: int) -> set[int]:
        with self.lock:
            return {seq for (device, seq) in self.stored if device == device_id}


def list_update(name: str, to_version: int, *, from_version: int | None = None, added: Iterable[dict] = (),
                removed: Iterable[dict] = (), device_id: int | None = None) -> ListUpdate:
    """A list update: a delta when ``from_version`` is given, else a full list."""
    return ListUpdate(list=name, full=from_version is None, from_version=from_version, to_version=to_version,
                      issued_at=now_iso(), device_id=device_id, added=tuple(added), removed=tuple(removed))


class RawClient:
    """A client that publishes whatever it is given, for the tests of bad
    messages: anonymous on a plain broker, or with the certificate of
    ``identity`` (a device id) on a TLS one, as a thief with a device's
    credentials would."""

    def __init__(self, broker: LocalBroker, identity: int | None = None) -> None:
        self.mqtt = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{identity}", protocol=paho.MQTTv5)
        pki = broker.tls_pki
        if pki is not None:
            assert identity is not None, "a TLS broker takes only clients with a certificate"
            self.mqtt.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / f"{identity}.crt"),
                              keyfile=str(pki / f"{identity}.key"), cert_reqs=ssl.CERT_REQUIRED)
        self.mqtt.connect("127.0.0.1", broker.port)
        self.mqtt.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self.mqtt.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()
