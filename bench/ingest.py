"""Benchmark of the sync pipeline end to end, beside the raw MQTT pipe it runs on.

All on this machine, each program in its own process, through one real
Mosquitto (plain TCP on loopback, the shipped queue limits):

- *end to end*: ``--devices`` journals, each holding ``--entries`` taps
  (INTENT + completion, as a validator writes them) that the server has not
  seen, the catch-up after an outage. Timed from the start of the devices'
  sync agents (one process, an :class:`~device.sync.agent.Agent` thread per
  device) until every journal entry is marked acknowledged: journal read ->
  signed batch -> broker -> ``citizencard ingest`` (signature and schema
  check, one SQLite transaction per group of messages, reconciliation) ->
  commit -> signed ack -> broker -> journal update. Transactions per second.
- *raw pipe, a message per transaction*: a paho publisher (QoS 1) and a paho
  subscriber in two processes, through the same broker, each message the
  bytes of one signed transaction: the pipe's limit for a design that sends a
  tap at a time (TEST_RIG: 8,000-10,000 QoS 1 messages/s).
- *raw pipe, batch messages*: the same, with the very messages the agents
  send (``batch_size`` transactions each): how much the broker and paho alone
  could carry in our message shape, with nothing checked or stored.

Aim (issue 5): end to end at least 20,000 transactions/s with SQLite, and at
least half of the raw pipe of a message per transaction. The batch pipe is
printed for scale: it does no work per transaction, so its rate is the
ceiling of the message shape, not an aim.

    ./dev bench ingest [--devices 4] [--entries 20000] [--batch 200] [--window N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from citizencard.broker import LocalBroker
from citizencard.city import City, TapWriter, build_city, ingest_argv
from device.config import load_config
from device.journal import JOURNAL_FILENAME, Journal
from device.protocol.codec import device_signer, encode
from device.protocol.messages import TxBatch
from device.protocol.signing import load_private
from device.sync.agent import Agent
from device.sync.wire import entry_record
from sync_server.config import load_server_config
from sync_server.setup import open_store

AIM_RATE = 20_000
AIM_RATIO = 0.5
FIRST_DEVICE = 2001
RAW_TOPIC = "bench/raw"


# -- the raw pipe -------------------------------------------------------------------------------------


def _subscriber(port: int, expected: int, ready: multiprocessing.synchronize.Event,
                done: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-sub", protocol=paho.MQTTv5)
    received = [0]

    def on_message(_client: object, _userdata: object, _message: paho.MQTTMessage) -> None:
        received[0] += 1
        if received[0] == expected:
            done.put(time.perf_counter())

    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.subscribe(RAW_TOPIC, qos=1)
    client.loop_start()
    subscribed.wait(10)
    ready.set()
    time.sleep(600)


def raw_pipe(port: int, payloads: list[bytes]) -> float:
    """Seconds to carry ``payloads`` from a publisher to a subscriber process, QoS 1."""
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Queue()
    subscriber = context.Process(target=_subscriber, args=(port, len(payloads), ready, done), daemon=True)
    subscriber.start()
    try:
        if not ready.wait(20):
            raise RuntimeError("the raw subscriber did not start")
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-pub", protocol=paho.MQTTv5)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        start = time.perf_counter()
        for payload in payloads:
            client.publish(RAW_TOPIC, payload, qos=1)
        end = done.get(timeout=300)
        client.loop_stop()
        client.disconnect()
        return float(end - start)
    finally:
        subscriber.kill()
        subscriber.join()


# -- end to end ---------------------------------------------------------------------------------------


def prefill(city: City, device_id: int, entries: int, scratch: Path) -> None:
    """``entries`` taps in the device's journal, written on ``scratch`` (a
    RAM disk when there is one: the fsyncs of writing them are not what is
    measured) and moved into place."""
    staging = scratch / str(device_id)
    staging.mkdir(parents=True)
    writer = TapWriter(city, device_id, data_dir=staging)
    writer.tap(entries)
    writer.close()  # checkpoints the WAL into the file
    shutil.move(staging / JOURNAL_FILENAME, city.data_dir(device_id) / JOURNAL_FILENAME)


def _agents_main(configs: list[str], result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    agents = [Agent(load_config(config)) for config in configs]
    stop = threading.Event()
    cpu = time.process_time()
    start = time.perf_counter()
    threads = [agent.start(stop, until_synced=True) for agent in agents]
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    failures = [repr(agent.failure) for agent in agents if agent.failure is not None]
    result.put((elapsed, time.process_time() - cpu, failures, [agent.counters.summary() for agent in agents]))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    elapsed: float
    agents_cpu: float
    ingest_cpu: float | None
    summaries: list[str]


def end_to_end(city: City) -> Run:
    """Seconds until the agents of every device of ``city`` are synced, with
    an ingest worker already consuming; the CPU the agents and the worker
    took meanwhile; the agents' summaries."""
    log = city.root / "ingest.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(ingest_argv(city), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while "connected to" not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ingest worker did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        context = multiprocessing.get_context("spawn")
        result = context.Queue()
        agents = context.Process(target=_agents_main, args=([str(c) for c in city.devices.values()], result))
        ingest_before = _cpu_seconds(worker.pid)
        agents.start()
        elapsed, agents_cpu, failures, summaries = result.get(timeout=900)
        ingest_after = _cpu_seconds(worker.pid)
        agents.join()
        if failures:
            raise RuntimeError(f"agents failed: {failures}")
        ingest_cpu = None if ingest_before is None or ingest_after is None else ingest_after - ingest_before
        return Run(elapsed, agents_cpu, ingest_cpu, summaries)
    finally:
        worker.terminate()
        worker.wait(30)


def sample_messages(city: City, batch: int) -> tuple[list[bytes], list[bytes]]:
    """The signed messages of the first device's journal: one per transaction, and per batch."""
    device_id = next(iter(city.devices))
    key = load_private(load_config(city.devices[device_id]).sync.signing_key)
    with Journal(city.data_dir(device_id) / JOURNAL_FILENAME, device_id) as journal:
        records = [entry_record(entry) for entry in journal.unacked(limit=10**9)]
    signer = device_signer(device_id)
    single = [encode(TxBatch(device_id, "2026-11-21T08:00:00+00:00", (record,)), key, signer) for record in records]
    batches = [encode(TxBatch(device_id, "2026-11-21T08:00:00+00:00", tuple(records[i:i + batch])), key, signer)
               for i in range(0, len(records), batch)]
    return single, batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--entries", type=int, default=20_000, help="taps per device")
    parser.add_argument("--batch", type=int, default=200, help="[sync] batch_size")
    parser.add_argument("--window", type=int, default=None, help="[sync] window (default: the device default)")
    parser.add_argument("--dir", type=Path, default=None, help="where the broker, server and journals live")
    args = parser.parse_args()
    total = args.devices * args.entries
    ram = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=args.dir) as work, tempfile.TemporaryDirectory(dir=ram) as scratch:
        root = Path(work)
        with LocalBroker(root / "broker") as broker:
            city = build_city(root / "city", broker, range(FIRST_DEVICE, FIRST_DEVICE + args.devices),
                              sync={"batch_size": args.batch, "heartbeat": 60.0,
                                    **({"window": args.window} if args.window else {})})
            for device_id in city.devices:
                prefill(city, device_id, args.entries, Path(scratch))
            single, batches = sample_messages(city, args.batch)
            single_rate = len(single) / raw_pipe(broker.port, single)
            batch_rate = len(single) / raw_pipe(broker.port, batches)
            run = end_to_end(city)
            with open_store(load_server_config(city.server_config), migrate=False) as store:
                stored = store.transaction_count()
    rate = total / run.elapsed
    print(f"transactions: {args.devices} devices x {args.entries} taps = {total}, batches of {args.batch}, "
          f"{len(single[0])} bytes a transaction alone, {len(batches[0]) // args.batch} in a batch")
    print(f"raw pipe, a message per transaction   {single_rate:10,.0f} tx/s")
    print(f"raw pipe, batch messages               {batch_rate:10,.0f} tx/s")
    print(f"end to end, acked in the journal      {rate:10,.0f} tx/s  ({run.elapsed:.2f} s; server holds {stored})")
    ingest = "?" if run.ingest_cpu is None else f"{run.ingest_cpu / total * 1e6:.1f}"
    print(f"  CPU per transaction: agents {run.agents_cpu / total * 1e6:.1f} us, ingest worker {ingest} us "
          f"(2 cores here, shared with the broker)")
    for summary in run.summaries:
        print(f"  agent: {summary}")
    ratio = rate / single_rate
    print(f"ratio end to end / raw pipe (a message per transaction): {ratio:.2f}; "
          f"/ raw pipe (batch messages): {rate / batch_rate:.3f}")
    met = rate >= AIM_RATE and ratio >= AIM_RATIO and stored == total
    print(f"aim (>= {AIM_RATE:,} tx/s and >= {AIM_RATIO:.1f} x the raw pipe): {rate:,.0f} tx/s, "
          f"x{ratio:.2f} -> {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
