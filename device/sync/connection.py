"""The MQTT connection of the device's agent and of the server's ingest
workers: paho-mqtt 2.x, MQTT v5.

paho runs the network in its own thread (``loop_start``) and reconnects by
itself. The callbacks, in that thread, only hand over: each puts one event
on the agent's queue (:class:`Connected`, :class:`Disconnected`,
:class:`Received`, :class:`PublishRefused`) and returns; nothing is decoded, looked up or waited for
there. Every callback is guarded: an exception is logged with its traceback
and handed over as :class:`NetworkFailed`, and so is the end of paho's
thread for any reason but :meth:`MqttLink.close` (paho's thread otherwise
dies silently), so the agent stops with an error instead of hanging.

A device's session: client id ``device-<id>``, ``clean_start`` false and a session
expiry interval (:data:`SESSION_EXPIRY`), so the broker keeps the
subscriptions and queues the acks and list updates for a device that is
away; the subscriptions are made again on every connection all the same (a
broker that lost its state after a kill -9 has none). Incoming messages are
acknowledged to the broker (PUBACK) only by :meth:`MqttLink.ack`, after the
agent has handled them, and only on the connection they arrived on.

Reconnection: exponential backoff from ``reconnect_min`` to
``reconnect_max`` with jitter (each delay drawn between half and all of
the doubled delay), so a fleet of devices does not come back in step after
a broker restart. paho's own backoff has no jitter: the delay of each next
attempt is set, through :meth:`paho.mqtt.client.Client.reconnect_delay_set`,
just before paho waits.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.errors import SyncConnectionError

log = logging.getLogger(__name__)

SESSION_EXPIRY = 14 * 24 * 3600
"""Seconds the broker keeps a device's session (subscriptions, queued acks
and lists) after it went away; the shipped broker keeps them as long
(``persistent_client_expiration 14d``)."""

KEEPALIVE = 30
"""Seconds between MQTT pings on an idle connection: a dead broker or link is
noticed within one and a half of these."""


@dataclass(frozen=True)
class Connected:
    """The broker accepted the connection; ``generation`` counts connections."""

    generation: int
    session_present: bool


@dataclass(frozen=True)
class Disconnected:
    """The connection is gone (or the broker refused it); paho reconnects."""

    reason: str


@dataclass(frozen=True)
class Received:
    """A message, as it came: decoding is the agent's job."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


@dataclass(frozen=True)
class PublishRefused:
    """The broker answered a publication with a failure (MQTT v5 PUBACK reason
    code), e.g. "Not authorized": the ACL does not let this client publish
    there, usually a client certificate of another device."""

    reason: str


@dataclass(frozen=True)
class NetworkFailed:
    """The network thread failed; the agent stops with this cause."""

    error: BaseException


Event = Connected | Disconnected | Received | PublishRefused | NetworkFailed


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes


class _Client(paho.Client):
    """paho's client, whose network thread reports how it ended."""

    thread_ended: Callable[[BaseException | None], None] | None = None

    def _thread_main(self) -> None:  # paho's thread function (loop_start)
        error: BaseException | None = None
        try:
            super()._thread_main()
        except BaseException as exc:  # reported (and logged) below, not left to threading's excepthook
            error = exc
        if self.thread_ended is not None:
            self.thread_ended(error)


class MqttLink:
    """One client's connection to ``host``:``port`` (TLS when ``tls`` is
    given): a device's agent (``device-<id>``, a durable session) or an
    ingest worker (``session_expiry`` ``None``: a clean session that ends
    with the connection, so a dead worker's share of the shared subscription
    goes to the others). Events go to ``deliver`` (a queue's ``put``);
    :meth:`open` starts connecting in the background."""

    def __init__(self, client_id: str, host: str, port: int, deliver: Callable[[Event], None], *,
                 subscriptions: tuple[str, ...], tls: ssl.SSLContext | None = None,
                 reconnect_min: float = 0.5, reconnect_max: float = 60.0, keepalive: int = KEEPALIVE,
                 session_expiry: int | None = SESSION_EXPIRY, rng: random.Random | None = None) -> None:
        self.client_id = client_id
        self.session_expiry = session_expiry
        self.host = host
        self.port = port
        self._deliver = deliver
        self._subscriptions = subscriptions
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._keepalive = keepalive
        self._rng = rng or random.Random()
        self._failures = 0  # connection attempts failed in a row: the backoff's exponent
        self.reconnect_delay = reconnect_min
        """Seconds paho waits before its next connection attempt."""
        self._generation = 0
        self._closing = False
        client = _Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5,
                         reconnect_on_failure=True)
        client.thread_ended = self._thread_ended
        client.manual_ack_set(True)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)  # bounded by the agent: it publishes only while connected
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._guard(self._on_connect)
        client.on_disconnect = self._guard(self._on_disconnect)
        client.on_connect_fail = self._guard(self._on_connect_fail)
        client.on_message = self._guard(self._on_message)
        client.on_publish = self._guard(self._on_publish)
        self._client = client
        self._next_delay()

    # -- the agent's thread --------------------------------------------------------------------------

    def open(self, will: Will | None = None) -> None:
        """Start connecting (and reconnecting) in paho's thread; ``will`` is
        published by the broker, retained, if the connection dies.

        :raises SyncConnectionError: when the broker's address cannot be used at all.
        """
        if will is not None:
            self.set_will(will)
        properties = None
        if self.session_expiry is not None:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry
        try:
            self._client.connect_async(self.host, self.port, keepalive=self._keepalive,
                                       clean_start=self.session_expiry is None, properties=properties)
        except (OSError, ValueError) as exc:
            raise SyncConnectionError(f"cannot use the broker {self.host}:{self.port}: {exc}") from exc
        if self._client.loop_start() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise SyncConnectionError("the MQTT network thread is already running")

    def set_will(self, will: Will) -> None:
        """The last will of the next connection (the current one keeps its own)."""
        self._client.will_set(will.topic, will.payload, qos=1, retain=True)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> paho.MQTTMessageInfo:
        """Queue ``payload`` for ``topic`` at QoS 1; never waits. While the
        connection is down paho keeps it and sends it on reconnection.

        :raises SyncConnectionError: for a message paho refuses outright (too large, bad topic).
        """
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise SyncConnectionError(f"cannot publish on {topic}: {paho.error_string(info.rc)}")
        return info

    def ack(self, message: Received) -> None:
        """Tell the broker ``message`` is handled; it may forget it. A message
        of an earlier connection is not acknowledged: the broker sends it again."""
        if message.qos > 0 and message.generation == self._generation:
            self._client.ack(message.mid, message.qos)

    def close(self) -> None:
        """Disconnect cleanly (the broker does not publish the last will) and
        stop paho's thread; idempotent."""
        if self._closing:
            return
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    # -- paho's thread: hand over, never block -------------------------------------------------------

    def _guard(self, callback: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except BaseException as exc:
                log.exception("MQTT callback %s failed", callback.__name__)
                self._deliver(NetworkFailed(exc))

        guarded.__name__ = callback.__name__
        return guarded

    def _next_delay(self) -> None:
        # Exponential, capped, with jitter: between half and all of the doubled delay, never below the minimum.
        ceiling = min(self._reconnect_max, self._reconnect_min * 2 ** min(self._failures, 32))
        delay = max(self._reconnect_min, self._rng.uniform(ceiling / 2, ceiling))
        self.reconnect_delay = delay
        self._client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]  # paho takes float seconds

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            # e.g. not authorised: paho drops the connection and tries again after the backoff
            log.error("the broker %s:%s refused %s: %s", self.host, self.port, self.client_id, reason)
            self._failures += 1
            self._next_delay()
            return
        self._failures = 0
        self._next_delay()
        self._generation += 1
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        self._deliver(Connected(self._generation, bool(flags.session_present)))

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._failures += 1
        self._next_delay()
        self._deliver(Disconnected(str(reason)))

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._failures += 1
        self._next_delay()

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        self._deliver(Received(message.topic, message.payload, message.mid, message.qos, self._generation))

    def _on_publish(self, _client: Any, _userdata: Any, _mid: int, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._deliver(PublishRefused(str(reason)))

    def _thread_ended(self, error: BaseException | None) -> None:
        if self._closing:
            return
        if error is not None:
            log.error("the MQTT network thread failed", exc_info=error)
            self._deliver(NetworkFailed(error))
        else:
            self._deliver(NetworkFailed(SyncConnectionError("the MQTT network thread ended unexpectedly")))
