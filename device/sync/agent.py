"""The sync agent: one process beside the validator (``citizencard agent
--config PATH``), sharing its data directory.

Up: the journal's unacknowledged entries go to the server in signed
:class:`~device.protocol.messages.TxBatch` messages of ``batch_size``
entries, QoS 1, up to ``window`` batches in flight (:mod:`.outbox`). An
entry is marked synced only when the server's signed
:class:`~device.protocol.messages.Ack` names its ``(seq, rev)`` (sent after
the server's database commit), never on MQTT's PUBACK. A batch without its
ack after ``ack_timeout``, and everything in flight after a reconnection, is
published again; the server keeps one entry per ``(device_id, seq)``. The
validator's process writes taps meanwhile: the agent notices within a poll
interval (``PRAGMA data_version``, which moves when another connection
commits) and sends them; while the broker is away the journal keeps them.

Down: :class:`~device.protocol.messages.ListUpdate` messages, broadcast
deltas and this device's own full lists or catch-up deltas, verified with the
server's key and applied in one transaction each (:mod:`.apply`). A delta
from a version the device does not hold makes it ask for the full list
(:class:`~device.protocol.messages.ListRequest`); a replayed one is ignored.
A delta from before the version held to after it was computed from an older
status of this device (a catch-up delta crossing a broadcast one the device
applied meanwhile): the device publishes its status again, and the server
answers with a delta from the version held.

Retention: the journal would grow for ever. When it starts and every
``prune_interval`` (an hour) the agent deletes the entries the server has
acknowledged that are settled and older than ``[sync] retention`` days
(:meth:`~device.journal.Journal.prune`, which never deletes an unacknowledged
entry or an open intent, and never lets a sequence number come back): one
cheap transaction an hour, between two looks at the journal, never while a
batch is being read or published.

Status: a signed, retained :class:`~device.protocol.messages.Status` (the
list versions held, the backlog, the last sequence number) on every
connection, every ``heartbeat`` and after each list applied; the same with
``online`` false is the connection's last will and is sent on a clean stop.

Threads: paho's network thread only hands events over to a queue
(:mod:`.connection`); the thread that calls :meth:`Agent.run` opens and owns
the journal, the deny-list and the list store (sqlite3 connections belong
to one thread), decodes, checks signatures and does all the work. A
message that fails a check (size, JSON, schema, signature, device, topic, an
item a store refuses) is logged, counted in :attr:`Agent.counters` and
acknowledged to the broker so it is not redelivered; the agent goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.config import DeviceConfig
from device.denylist import DENYLIST_FILENAME, DenyList
from device.errors import (
    DenyListEntryError,
    DenyListError,
    JournalFullError,
    ListEntryError,
    ListStoreError,
    SyncConnectionError,
)
from device.journal import JOURNAL_FILENAME, Journal, JournalEntry, utc_now
from device.lists import LISTS_FILENAME, ListStore
from device.protocol import topics
from device.protocol.codec import SERVER_SIGNER, decode, device_signer, encode
from device.protocol.errors import OversizedMessageError, ProtocolError
from device.protocol.messages import Ack, ListRequest, ListUpdate, Message, Status, TxBatch, range_pairs
from device.protocol.parts import Assembler

from .apply import ListApplier, Outcome
from .connection import Connected, Disconnected, Event, MqttLink, NetworkFailed, PublishRefused, Received, Will
from .keys import SyncKeys, load_keys
from .outbox import Outbox, Pair
from .wire import entry_record

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
"""Seconds between looks at the journal while idle: how soon a new tap leaves."""

PRUNE_INTERVAL = 3600.0
"""Seconds between two prunings of the journal (the first is at start)."""

OFFLINE_STATUS_WAIT = 2.0
"""Seconds a clean stop waits for the broker to take the offline status."""


@dataclass
class AgentCounters:
    """What the agent has done since it started; read by tests and benches
    (from any thread: plain integers), logged every heartbeat."""

    connections: int = 0
    disconnections: int = 0
    batches_published: int = 0
    entries_published: int = 0
    batches_republished: int = 0
    acks: int = 0
    entries_acked: int = 0
    lists_applied: int = 0
    lists_stale: int = 0
    list_conflicts: int = 0
    lists_overtaken: int = 0
    """Deltas from before the version held to after it, answered with the status (no full list needed)."""
    list_requests: int = 0
    statuses: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Messages refused, by reason (the protocol error's class, ``wrong_device``, ``wrong_topic``, ``bad_item``)."""
    publications_refused: int = 0
    """Publications the broker refused (its ACL: a client certificate of another device?)."""
    store_failures: int = 0
    """List updates that could not be written (a full disk): the server sends them again."""
    entries_pruned: int = 0
    """Acknowledged, settled journal entries deleted once older than ``[sync] retention``."""
    prunings: int = 0
    """Times the journal was pruned (whether or not anything was old enough)."""

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        return (f"published {self.entries_published} entries in {self.batches_published} batches "
                f"({self.batches_republished} again), {self.entries_acked} acked in {self.acks} acks, "
                f"lists {self.lists_applied} applied / {self.lists_stale} stale / {self.lists_overtaken} overtaken / "
                f"{self.list_requests} requested, "
                f"{self.rejected_total} rejected, {self.connections} connections, "
                f"{self.entries_pruned} entries pruned")


class Agent:
    """The sync agent of the device configured by ``config``.

    The keys are loaded here, so a missing or bad file stops it before it
    does anything; the stores are opened by :meth:`run`, in the thread that
    runs it. For a bench or a test in one process::

        agent = Agent(load_config(path))
        stop = threading.Event()
        thread = agent.start(stop)       # or agent.run(stop) in a thread of your own
        ...
        stop.set(); thread.join()        # agent.failure holds what ended it, if anything did

    :param clock: the aware current time, for the messages' timestamps and
        the age of the journal entries to prune.
    :param poll_interval: seconds between looks at the journal while idle.
    :param prune_interval: seconds between two prunings of the journal.
    :param keys: the keys (default: loaded from ``config.sync``).
    :raises SyncKeyError: when a key or TLS file is missing or unreadable.
    """

    def __init__(self, config: DeviceConfig, *, clock: Callable[[], dt.datetime] = utc_now,
                 poll_interval: float = POLL_INTERVAL, prune_interval: float = PRUNE_INTERVAL,
                 keys: SyncKeys | None = None) -> None:
        self.config = config
        self.settings = config.sync
        self.device_id = config.device.id
        self.keys = keys if keys is not None else load_keys(config.sync)
        self.clock = clock
        self.poll_interval = poll_interval
        self.prune_interval = prune_interval
        self.counters = AgentCounters()
        self.connected = threading.Event()
        """Set while connected to the broker (as the agent's thread last saw it)."""
        self.ready = threading.Event()
        """Set once the stores are open and the connection is being made."""
        self.failure: BaseException | None = None
        """What ended :meth:`start`'s thread, if it was not a stop."""
        self._signer = device_signer(self.device_id)

    # -- running ---------------------------------------------------------------------------------------

    def start(self, stop: threading.Event, *, until_synced: bool = False) -> threading.Thread:
        """:meth:`run` in a new thread (started); its exception, if any, is
        logged and kept in :attr:`failure`."""

        def main() -> None:
            try:
                self.run(stop, until_synced=until_synced)
            except BaseException as exc:
                log.exception("the sync agent of device %s failed", self.device_id)
                self.failure = exc

        thread = threading.Thread(target=main, name=f"sync-agent-{self.device_id}", daemon=True)
        thread.start()
        return thread

    def run(self, stop: threading.Event, *, until_synced: bool = False) -> None:
        """Sync until ``stop`` is set (or, with ``until_synced``, until the
        server has acknowledged every entry of the journal); then publish the
        offline status and disconnect.

        :raises SyncConnectionError: when the broker cannot be used at all or
            the network thread failed.
        :raises JournalError, DenyListError, ListStoreError: when a store
            cannot be opened or the journal cannot be read or written.
        """
        data_dir = self.config.device.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            journal = stack.enter_context(Journal(data_dir / JOURNAL_FILENAME, self.device_id, clock=self.clock))
            denylist = DenyList(data_dir / DENYLIST_FILENAME)
            stack.callback(denylist.close)
            lists = stack.enter_context(ListStore(data_dir / LISTS_FILENAME))
            _Session(self, journal, ListApplier(denylist, lists)).run(stop, until_synced)


class _Session:
    """One run of the agent: the stores, the connection, the window, all in one thread."""

    def __init__(self, agent: Agent, journal: Journal, applier: ListApplier) -> None:
        self.agent = agent
        self.settings = agent.settings
        self.device_id = agent.device_id
        self.counters = agent.counters
        self.journal = journal
        self.applier = applier
        self.outbox = Outbox(self.settings.window, self.settings.batch_size, self.settings.ack_timeout)
        self.unsendable: set[Pair] = set()  # single entries larger than a message: logged, never sent
        self.more = True  # the journal may hold entries to send
        self.data_version: int | None = None
        self.online = False
        self.next_heartbeat = float("inf")
        self.next_prune = 0.0  # time.monotonic(): at start, then every prune_interval
        self.requested: dict[str, float] = {}  # list name -> when a full list was last asked for
        self.assembler = Assembler()  # list updates that come in parts
        self.events: queue.Queue[Event] = queue.Queue()  # from paho's thread
        self.link = MqttLink(f"device-{self.device_id}", self.settings.broker, self.settings.port, self.events.put,
                             subscriptions=topics.device_subscriptions(self.device_id), tls=agent.keys.tls,
                             reconnect_min=self.settings.reconnect_min, reconnect_max=self.settings.reconnect_max)

    def run(self, stop: threading.Event, until_synced: bool) -> None:
        log.info("sync agent of device %s: broker %s:%s (%s), journal backlog %s", self.device_id,
                 self.settings.broker, self.settings.port, "TLS" if self.settings.tls else "plain TCP",
                 self.journal.backlog())
        self.link.open(will=self._will())
        self.agent.ready.set()
        try:
            while not stop.is_set():
                self._take_events(self.agent.poll_interval)
                self._prune()
                if self.online:
                    self._work()
                    if until_synced and not self.outbox.batches and self.journal.backlog() == 0:
                        log.info("every journal entry is acknowledged: stopping (--once)")
                        break
        finally:
            self._shut_down()

    # -- events from the network thread ---------------------------------------------------------------

    def _take_events(self, timeout: float) -> None:
        try:
            self._handle(self.events.get(timeout=timeout))
            for _ in range(999):  # then look at the journal again, however busy the link
                self._handle(self.events.get_nowait())
        except queue.Empty:
            return

    def _handle(self, event: Event) -> None:
        if isinstance(event, Received):
            self._on_message(event.topic, event.payload)
            self.link.ack(event)
        elif isinstance(event, Connected):
            self.counters.connections += 1
            log.info("connected to %s:%s (session %s)", self.settings.broker, self.settings.port,
                     "resumed" if event.session_present else "new")
            self.online = True
            self.agent.connected.set()
            self.outbox.reset()  # whatever was in flight is published again
            self.more = True
            self.requested.clear()
            self._publish_status()
        elif isinstance(event, Disconnected):
            if self.online:
                self.counters.disconnections += 1
                log.warning("disconnected from the broker: %s; the journal keeps every tap meanwhile", event.reason)
            self.online = False
            self.agent.connected.clear()
            self.outbox.reset()
        elif isinstance(event, PublishRefused):
            self.counters.publications_refused += 1
            if self.counters.publications_refused == 1 or self.counters.publications_refused % 100 == 0:
                log.error("the broker refused a publication of device %s: %s (%s so far); is [sync] cert this "
                          "device's certificate?", self.device_id, event.reason, self.counters.publications_refused)
        elif isinstance(event, NetworkFailed):
            self.online = False  # nothing more goes out: no offline status to wait for
            raise SyncConnectionError(f"the MQTT network thread failed: {event.error!r}") from event.error

    # -- work, in this thread -------------------------------------------------------------------------

    def _work(self) -> None:
        version = self.journal.data_version()
        if version != self.data_version:
            self.data_version = version
            self.more = True
        if self.more or self.outbox.rescan:
            self._fill()
        now = time.monotonic()
        for batch in self.outbox.overdue(now):
            log.info("no ack for batch %s (%s entries up to seq %s) after %gs: publishing it again", batch.number,
                     batch.size, batch.last_seq, self.settings.ack_timeout)
            self.link.publish(topics.tx_topic(self.device_id), batch.payload)
            self.counters.batches_republished += 1
        if now >= self.next_heartbeat:
            self._publish_status()
            log.info("sync: %s; backlog %s", self.counters.summary(), self.journal.backlog())

    def _prune(self) -> None:
        """Delete the acknowledged, settled entries older than the retention,
        when a pruning is due; online or not (it needs no server)."""
        now = time.monotonic()
        if now < self.next_prune:
            return
        self.next_prune = now + self.agent.prune_interval
        try:
            pruned = self.journal.prune(dt.timedelta(days=self.settings.retention))
        except JournalFullError as exc:  # deleting needs WAL space too: nothing was deleted, try again next time
            log.warning("could not prune the journal: %s", exc)
            return
        self.counters.prunings += 1
        self.counters.entries_pruned += pruned
        if pruned:
            log.info("pruned %s journal entries acknowledged and settled over %g days ago", pruned,
                     self.settings.retention)

    def _fill(self) -> None:
        size = self.settings.batch_size
        while self.outbox.room:
            after, limit, skip = self.outbox.read_plan()
            skip |= self.unsendable
            entries = self.journal.unacked(limit=limit + len(self.unsendable), after_seq=after)
            fresh = [entry for entry in entries if entry.ack_key not in skip][:size]
            if not fresh:
                self.outbox.nothing_to_read()
                self.more = False
                return
            if self._publish_batch(fresh) < len(fresh):
                continue  # split (or an entry no message can hold): the rest goes in the next batch
            if len(fresh) < size:
                self.more = False
                return
        # The window is full: the next ack makes room and there may be more to read.
        self.more = True

    def _publish_batch(self, entries: list[JournalEntry]) -> int:
        """Publish the first of ``entries`` that fit one message; how many did."""
        records = tuple(entry_record(entry) for entry in entries)
        while True:
            batch = TxBatch(device_id=self.device_id, sent_at=self._now(), entries=records)
            try:
                payload = self._encode(batch)
                break
            except OversizedMessageError:
                if len(records) == 1:
                    (record,) = records
                    log.error("journal entry %s (rev %s) alone exceeds the message size limit: it is never sent",
                              record.seq, record.rev)
                    self.unsendable.add((record.seq, record.rev))
                    self.counters.rejected["oversized_entry"] += 1
                    return 0
                records = records[: len(records) // 2]  # the rest goes in the next batch
        self.link.publish(topics.tx_topic(self.device_id), payload)
        self.outbox.published(payload, [(record.seq, record.rev) for record in records], time.monotonic())
        self.counters.batches_published += 1
        self.counters.entries_published += len(records)
        return len(records)

    # -- messages from the server ---------------------------------------------------------------------

    def _server_key(self, signer: str) -> Ed25519PublicKey | None:
        return self.agent.keys.server if signer == SERVER_SIGNER else None

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            _, message = decode(payload, self._server_key)
        except ProtocolError as exc:
            self._reject(topic, type(exc).__name__, exc)
            return
        if isinstance(message, Ack):
            self._on_ack(topic, message)
        elif isinstance(message, ListUpdate):
            self._on_list(topic, message)
        else:
            self._reject(topic, "wrong_topic", f"a {message.TYPE} is not sent to devices")

    def _reject(self, topic: str, reason: str, error: object) -> None:
        self.counters.rejected[reason] += 1
        log.warning("refused a message on %s (%s): %s", topic, reason, error)

    def _on_ack(self, topic: str, ack: Ack) -> None:
        if topic != topics.ack_topic(self.device_id):
            self._reject(topic, "wrong_topic", "an ack outside this device's ack topic")
            return
        if ack.device_id != self.device_id:
            self._reject(topic, "wrong_device", f"an ack for device {ack.device_id}")
            return
        try:
            pairs = range_pairs(ack.acks)
        except ProtocolError as exc:
            self._reject(topic, type(exc).__name__, exc)
            return
        marked = self.journal.mark_acked_ranges((r.first, r.last, r.rev) for r in ack.acks)
        self.outbox.acked(pairs, marked)
        self.counters.acks += 1
        self.counters.entries_acked += marked
        self.more = True  # room in the window, or revisions to send again
        log.debug("ack of %s entries (%s newly marked) committed at %s", len(pairs), marked, ack.committed_at)

    def _on_list(self, topic: str, update: ListUpdate) -> None:
        expected = (topics.broadcast_list_topic(update.list), topics.device_list_topic(self.device_id, update.list))
        if topic not in expected:
            self._reject(topic, "wrong_topic", f"a {update.list} list update")
            return
        if update.device_id is not None and update.device_id != self.device_id:
            self._reject(topic, "wrong_device", f"a {update.list} list for device {update.device_id}")
            return
        try:
            whole = self.assembler.add(update)
        except ProtocolError as exc:
            self._reject(topic, type(exc).__name__, exc)
            return
        if whole is None:
            return  # more parts to come
        update = whole
        what = f"{update.list} {'full list' if update.full else f'delta from {update.from_version}'} " \
               f"to {update.to_version}"
        try:
            outcome, conflict = self.applier.apply(update)
        except (ProtocolError, DenyListEntryError, ListEntryError) as exc:
            self._reject(topic, "bad_item", f"{what}: {exc}")
            return
        except (DenyListError, ListStoreError) as exc:
            self.counters.store_failures += 1
            log.error("could not apply the %s: %s (the server sends it again)", what, exc)
            return
        if outcome is Outcome.APPLIED:
            self.counters.lists_applied += 1
            self.requested.pop(update.list, None)
            log.info("applied the %s", what)
            self._publish_status()
        elif outcome is Outcome.STALE:
            self.counters.lists_stale += 1
            log.debug("ignored the %s: %s", what, conflict)
        elif conflict is not None and conflict.overtaken:
            # Computed from an older status of this device, which has applied another update since: the
            # server can send a delta from the version held, which the status asks for (a full list only
            # when its log no longer reaches back). The status published when that version was applied may
            # have been answered before the server had this delta's version: publish it again.
            self.counters.lists_overtaken += 1
            log.info("cannot apply the %s (version %s held): reporting the version held", what, conflict.held)
            self._publish_status()
        else:
            assert conflict is not None
            self.counters.list_conflicts += 1
            log.info("cannot apply the %s (version %s held): asking for the full list", what, conflict.held)
            self._request_full_list(update.list, conflict.held)

    def _request_full_list(self, name: str, held: int) -> None:
        now = time.monotonic()
        last = self.requested.get(name)
        if last is not None and now - last < self.settings.ack_timeout:
            return  # asked already; the full list is on its way
        self.requested[name] = now
        request = ListRequest(device_id=self.device_id, list=name, held_version=held, sent_at=self._now())
        self.link.publish(topics.list_request_topic(self.device_id), self._encode(request))
        self.counters.list_requests += 1

    # -- status ---------------------------------------------------------------------------------------

    def _status(self, online: bool) -> Status:
        return Status(device_id=self.device_id, online=online, sent_at=self._now(),
                      list_versions=self.applier.versions(), backlog=self.journal.backlog(),
                      last_seq=self.journal.last_seq())

    def _will(self) -> Will:
        return Will(topics.status_topic(self.device_id), self._encode(self._status(online=False)))

    def _publish_status(self) -> None:
        self.link.publish(topics.status_topic(self.device_id), self._encode(self._status(online=True)), retain=True)
        self.link.set_will(self._will())  # for the next connection: the versions and backlog as of now
        self.counters.statuses += 1
        self.next_heartbeat = time.monotonic() + self.settings.heartbeat

    # -- plumbing -------------------------------------------------------------------------------------

    def _now(self) -> str:
        return self.agent.clock().astimezone(dt.UTC).isoformat()

    def _encode(self, message: Message) -> bytes:
        return encode(message, self.agent.keys.signing, self.agent._signer)

    def _shut_down(self) -> None:
        try:
            if self.online and self.link.connected:
                info = self.link.publish(topics.status_topic(self.device_id),
                                         self._encode(self._status(online=False)), retain=True)
                info.wait_for_publish(OFFLINE_STATUS_WAIT)
        except (RuntimeError, ValueError, SyncConnectionError) as exc:  # paho: not queued; ours: refused
            log.warning("could not publish the offline status: %s", exc)
        finally:
            self.link.close()
            self.online = False
            self.agent.connected.clear()
            log.info("sync agent of device %s stopped: %s", self.device_id, self.counters.summary())
