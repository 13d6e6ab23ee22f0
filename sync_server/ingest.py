"""The ingest worker: the server's end of the sync network.

It subscribes to every device's up topics through an MQTT v5 shared
subscription (``$share/ingest/...``), so several workers split the load, and
for each message, before acting on anything:

1. the topic must be a device topic (``cc/v1/dev/<id>/<leaf>``);
2. the envelope must decode: size, JSON, schema and the signature of a
   registered device (:func:`device.protocol.codec.decode`);
3. the signer must be the device the topic names, and so must the message's
   ``device_id`` (the broker's ACL already confines a device to its subtree:
   this is the second lock), and the leaf must carry that message type.

A message that fails is recorded as a rejection (the store's ``rejections``
table, a counter, a log line) and nothing of it is ingested; the worker
goes on.

Transactions are group-committed: the messages waiting in the queue (up to
``group``) go into one database transaction; only after it commits does the
worker publish each device's signed :class:`~device.protocol.messages.Ack`
and acknowledge the MQTT messages to the broker (``manual_ack``). A worker
killed before the commit acknowledged nothing: the broker redelivers, or the
device publishes again when its own ack timer runs out, and the unique key
``(device_id, seq)`` makes the second delivery change nothing but the ack.

Lists go down: the worker polls the store's list versions every
``list_poll`` seconds and broadcasts each change as a signed delta on
``cc/v1/lists/<name>``; a device's status reports the versions it holds,
and a device behind (back from a week offline) gets a delta from its own
version on its own topic, or a full list when the server's change log no
longer reaches back that far. A ``list_request`` (the device could not apply
a delta) is answered with the full list. Several workers may broadcast the
same delta: a device ignores what it already holds.

Threads: the connection is the devices' own
(:class:`~device.sync.connection.MqttLink`, with a clean session): paho's
network thread only queues what arrives (no decoding, no waiting);
:meth:`IngestWorker.run`'s thread does all the work and owns the store. A
failure in the network thread is logged with its traceback and stops the
worker with :class:`~sync_server.errors.IngestError`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device.errors import SyncConnectionError
from device.protocol import topics
from device.protocol.codec import SERVER_SIGNER, decode, device_signer, encode
from device.protocol.errors import OversizedMessageError, ProtocolError, SignatureError
from device.protocol.messages import LIST_NAMES, Ack, ListRequest, ListUpdate, Message, Status, TxBatch, ack_ranges
from device.protocol.parts import split
from device.protocol.signing import public_from_bytes
from device.sync.connection import Connected, Disconnected, Event, MqttLink, PublishRefused, Received

from .errors import BatchRejectedError, IngestError, StoreError
from .mqtt import BrokerSettings, tls_context
from .reconciliation import BLOCK_REASON, Policy, Reconciliation
from .store import IngestResult, SyncStore, utc_now

log = logging.getLogger(__name__)

LEAF_TYPES: dict[str, type[Message]] = {"tx": TxBatch, "status": Status, "list-request": ListRequest}
"""Which message type each up topic's leaf carries."""

KEY_RELOAD_INTERVAL = 1.0
"""Seconds between reloads of the device keys when an unknown signer shows up
(a device registered since), so a flood of forged signers cannot hammer the database."""


@dataclass
class IngestCounters:
    """What the worker has done since it started; read by tests, logged periodically."""

    messages: int = 0
    batches: int = 0
    entries: int = 0
    inserted: int = 0
    upgraded: int = 0
    duplicates: int = 0
    anomalies: int = 0
    acks_sent: int = 0
    auto_blocked: int = 0
    statuses: int = 0
    lists_sent: int = 0
    commits: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class IngestWorker:
    """One ingest worker over ``store``, connected to ``broker`` as
    ``client_id``, signing what it sends with ``server_key``.

    :param group: most messages committed in one database transaction.
    :param list_poll: seconds between checks for list changes to broadcast.
    :param policy: the reconciliation policy applied to the anomalies ingest flags.
    :raises IngestError: when the TLS files cannot be used.
    """

    def __init__(self, store: SyncStore, broker: BrokerSettings, client_id: str, server_key: Ed25519PrivateKey, *,
                 group: int = 64, list_poll: float = 0.2, clock: Callable[[], datetime] = utc_now,
                 policy: Policy | None = None) -> None:
        self.store = store
        self.reconciliation = Reconciliation(store, policy)
        self.broker = broker
        self.server_key = server_key
        self.group = group
        self.list_poll = list_poll
        self.clock = clock
        self.counters = IngestCounters()
        self._events: queue.Queue[Event] = queue.Queue()
        self.link = MqttLink(client_id, broker.host, broker.port, self._events.put,
                             subscriptions=topics.ingest_subscriptions(), tls=tls_context(broker),
                             reconnect_min=0.2, reconnect_max=10.0, session_expiry=None)
        self._keys: dict[int, Ed25519PublicKey] = {}
        self._keys_loaded_at = -KEY_RELOAD_INTERVAL
        self._published_versions: dict[str, int] = {}
        self.connected = threading.Event()
        """Set while connected to the broker (as the worker's thread last saw it)."""

    # -- the worker's thread -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then disconnect.

        :raises IngestError: when the broker cannot be used at all or the
            network thread died; :raises StoreError: when the database fails
            (the messages of that group were not acknowledged).
        """
        self._reload_keys(force=True)
        self._published_versions = self.store.list_versions()
        self._reconcile()  # blocks a worker killed after its commit did not get to
        try:
            self.link.open()
        except SyncConnectionError as exc:
            raise IngestError(str(exc)) from exc
        try:
            next_poll = time.monotonic()
            while not stop.is_set():
                group = self._take(timeout=min(0.1, self.list_poll))
                if group:
                    self._handle(group)
                if time.monotonic() >= next_poll:
                    self._broadcast_list_changes()
                    next_poll = time.monotonic() + self.list_poll
        finally:
            self.link.close()
            self.connected.clear()

    def _take(self, timeout: float) -> list[Received]:
        """The messages waiting (at most ``group``); the connection's other events handled on the way."""
        group: list[Received] = []
        wait: float | None = timeout
        while len(group) < self.group:
            try:
                event = self._events.get(timeout=wait) if wait else self._events.get_nowait()
            except queue.Empty:
                break
            wait = None
            if isinstance(event, Received):
                group.append(event)
            elif isinstance(event, Connected):
                self.connected.set()
                log.info("%s connected to %s:%s", self.link.client_id, self.broker.host, self.broker.port)
            elif isinstance(event, Disconnected):
                self.connected.clear()
                log.warning("%s disconnected from the broker: %s", self.link.client_id, event.reason)
            elif isinstance(event, PublishRefused):
                log.error("the broker refused a publication of %s: %s (its ACL: is this the ingest certificate?)",
                          self.link.client_id, event.reason)
            else:
                raise IngestError(f"the MQTT network thread failed: {event.error!r}") from event.error
        return group

    # -- one group of messages -------------------------------------------------------------------------

    def _handle(self, group: list[Received]) -> None:
        batches: list[TxBatch] = []
        others: list[Status | ListRequest] = []
        for received in group:
            self.counters.messages += 1
            message = self._accept(received)
            if isinstance(message, TxBatch):
                batches.append(message)
            elif message is not None:
                others.append(message)  # type: ignore[arg-type]
        if batches:
            self._commit(batches)
        statuses = [message for message in others if isinstance(message, Status)]
        if statuses:
            self._on_statuses(statuses)
        for message in others:
            if isinstance(message, ListRequest):
                self._send_full_list(message)
        # The database holds everything of this group: now the broker may forget it.
        for received in group:
            self.link.ack(received)

    def _accept(self, received: Received) -> Message | None:
        device_id: int | None = None
        try:
            device_id, leaf = topics.parse_device_topic(received.topic)
            expected = LEAF_TYPES.get(leaf)
            if expected is None:
                raise ProtocolError(f"{received.topic}: no message is published on '{leaf}'")
            signer, message = decode(received.payload, self._public_key)
            if signer != device_signer(device_id) or message.device_id != device_id:  # type: ignore[union-attr]
                raise SignatureError(f"{received.topic}: a message of {signer} for device "
                                     f"{getattr(message, 'device_id', None)} published under device {device_id}")
            if not isinstance(message, expected):
                raise ProtocolError(f"{received.topic}: a {message.TYPE} where a {expected.TYPE} belongs")
        except ProtocolError as exc:
            self._reject(received.topic, device_id, exc)
            return None
        return message

    def _reject(self, topic: str, device_id: int | None, error: Exception) -> None:
        self.counters.rejected[type(error).__name__] += 1
        log.warning("rejected a message on %s: %s: %s", topic, type(error).__name__, error)
        try:
            self.store.record_rejection(topic, device_id, error)
        except StoreError:
            log.exception("could not record the rejection of a message on %s", topic)

    def _commit(self, batches: list[TxBatch]) -> None:
        while True:
            try:
                result = self.store.ingest(batches)
                break
            except BatchRejectedError as exc:
                # Nothing was written: refuse the one batch at fault and commit the others.
                rejected = batches.pop(exc.batch_index)
                self._reject(topics.tx_topic(rejected.device_id), rejected.device_id, exc)
                if not batches:
                    return
        counters = self.counters
        counters.commits += 1
        counters.batches += len(batches)
        counters.entries += sum(len(batch.entries) for batch in batches)
        counters.inserted += result.inserted
        counters.upgraded += result.upgraded
        counters.duplicates += result.duplicates
        counters.anomalies += result.anomalies
        self._reconcile(result)
        committed_at = self.clock().isoformat()
        for device_id, pairs in result.acks.items():
            ack = Ack(device_id=device_id, committed_at=committed_at,
                      acks=ack_ranges(pairs))
            self._publish(topics.ack_topic(device_id), ack)
            counters.acks_sent += 1

    def _reconcile(self, result: IngestResult | None = None) -> None:
        # After the commit, in a transaction of its own: a failure here loses no transaction, and
        # the next commit that flags something or the next start enforces what was missed.
        try:
            blocked = self.reconciliation.enforce() if result is None else self.reconciliation.after_ingest(result)
        except StoreError:
            log.exception("could not apply the reconciliation policy; it is applied again at the next anomaly")
            return
        if blocked:
            self.counters.auto_blocked += blocked
            log.warning("the reconciliation policy blocked %d card(s) (reason %r)", blocked, BLOCK_REASON)

    # -- lists ------------------------------------------------------------------------------------------

    def _on_statuses(self, statuses: list[Status]) -> None:
        # One transaction for the group's heartbeats: 200 devices reporting a new list at once must not
        # cost 200 synced commits.
        self.counters.statuses += len(statuses)
        for status, error in self.store.record_statuses(statuses):
            self._reject(topics.status_topic(status.device_id), status.device_id, error)
        current = self.store.list_versions()
        for status in statuses:
            if not status.online:
                continue
            for name in LIST_NAMES:
                held = status.list_versions.get(name, 0)
                if held < current[name]:
                    update = self.store.delta(name, held, device_id=status.device_id)
                    if update is not None:
                        self._send_list(topics.device_list_topic(status.device_id, name), update)

    def _send_full_list(self, request: ListRequest) -> None:
        if request.list not in LIST_NAMES:
            self._reject(topics.list_request_topic(request.device_id), request.device_id,
                         ProtocolError(f"list_request for an unknown list {request.list!r}"))
            return
        update = self.store.full_list(request.list, device_id=request.device_id)
        self._send_list(topics.device_list_topic(request.device_id, request.list), update)

    def _broadcast_list_changes(self) -> None:
        versions = self.store.list_versions()
        for name in LIST_NAMES:
            current = versions[name]
            published = self._published_versions.get(name, 0)
            if current <= published:
                continue
            update = self.store.delta(name, published)
            if update is not None:
                self._send_list(topics.broadcast_list_topic(name), update)
            self._published_versions[name] = current

    def _send_list(self, topic: str, update: ListUpdate) -> None:
        try:
            payloads = [encode(update, self.server_key, SERVER_SIGNER)]
        except OversizedMessageError:
            # A city's full list: in parts, which the device puts together before applying it.
            payloads = [encode(part, self.server_key, SERVER_SIGNER) for part in split(update)]
        for payload in payloads:
            self._send(topic, payload)
        self.counters.lists_sent += 1

    # -- plumbing -----------------------------------------------------------------------------------------

    def _publish(self, topic: str, message: Any) -> None:
        self._send(topic, encode(message, self.server_key, SERVER_SIGNER))

    def _send(self, topic: str, payload: bytes) -> None:
        try:
            self.link.publish(topic, payload)
        except SyncConnectionError as exc:
            raise IngestError(str(exc)) from exc

    def _public_key(self, signer: str) -> Ed25519PublicKey | None:
        prefix, _, number = signer.partition(":")
        if prefix != "device" or not number.isdigit():
            return None
        device_id = int(number)
        key = self._keys.get(device_id)
        if key is None and self._reload_keys():
            key = self._keys.get(device_id)
        return key

    def _reload_keys(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._keys_loaded_at < KEY_RELOAD_INTERVAL:
            return False
        self._keys_loaded_at = now
        keys = {}
        for device_id, raw in self.store.device_keys().items():
            try:
                keys[device_id] = public_from_bytes(raw)
            except SignatureError:
                log.error("device %s has a malformed public key in the registry", device_id)
        self._keys = keys
        return True

