"""The sync agent against a real Mosquitto and a stand-in server: taps go up
in signed batches and are marked synced only on the server's signed ack;
forged acks change nothing; a revision that changes is sent again; status
and last will; TLS with client certificates; a failing network thread stops
the agent with an error; acknowledged entries past the retention are
pruned, and nothing else."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from device.config import load_config
from device.errors import SyncConnectionError, SyncKeyError, UnknownEntryError
from device.journal import JOURNAL_FILENAME, EntryState, Journal, utc_now
from device.protocol.codec import SERVER_SIGNER, encode
from device.protocol.messages import Status
from device.protocol.signing import generate
from device.sync.agent import Agent
from tests.mqtt import StandInServer, wait_for

from .conftest import DEVICE, running, tap

ROOT = Path(__file__).resolve().parents[3]


def test_taps_end_acknowledged(device, server: StandInServer, journal: Journal) -> None:
    seqs = [tap(journal, n) for n in range(120)]  # 3 batches of 50 (the window holds 4)
    with running(device) as agent:
        assert wait_for(lambda: journal.backlog() == 0, 10), journal.backlog()
        more = [tap(journal, n) for n in range(120, 125)]  # new taps while it runs leave within a poll
        assert wait_for(lambda: journal.backlog() == 0, 5)
        assert server.stored_seqs(DEVICE) == set(seqs + more)
        counters = agent.counters
        assert wait_for(lambda: counters.entries_acked == 125)  # counted just after the journal commit
        assert counters.entries_published == 125
        assert counters.batches_published >= 4 and counters.rejected_total == 0
    assert all(entry.acked for entry in map(journal.entry, seqs + more))


def test_nothing_is_marked_synced_without_the_servers_ack(make_device, mosquitto, server: StandInServer,
                                                          journal: Journal) -> None:
    device = make_device(mosquitto, ack_timeout=0.4)
    server.acking.clear()  # the server stores but does not answer (it has not committed, say)
    seqs = [tap(journal, n) for n in range(10)]
    with running(device) as agent:
        assert wait_for(lambda: server.stored_seqs(DEVICE) == set(seqs))  # published, PUBACKed by the broker
        assert wait_for(lambda: all(server.deliveries[(DEVICE, seq, 0)] >= 2 for seq in seqs), 3)  # ... again
        assert journal.backlog() == 10 and agent.counters.entries_acked == 0
        assert wait_for(lambda: agent.counters.batches_republished >= 1)
        server.acking.set()
        assert wait_for(lambda: journal.backlog() == 0, 3)


def test_forged_acks_change_nothing(device, server: StandInServer, journal: Journal) -> None:
    server.acking.clear()
    seqs = [tap(journal, n) for n in range(5)]
    pairs = [(seq, 0) for seq in seqs]
    with running(device) as agent:
        assert wait_for(lambda: server.stored_seqs(DEVICE) == set(seqs))
        server.ack(DEVICE, pairs, key=generate())  # signed with another key
        server.ack(1202, pairs, topic_device=DEVICE)  # the server's key, but for another device
        server.publish(f"cc/v1/dev/{DEVICE}/ack", b"{not json")
        server.publish(f"cc/v1/dev/{DEVICE}/ack", encode(Status(DEVICE, True, "t", {}, 0, 0), server.server.private,
                                                         SERVER_SIGNER))  # not an ack
        assert wait_for(lambda: agent.counters.rejected_total == 4)
        assert agent.counters.rejected == {"SignatureError": 1, "wrong_device": 1, "MalformedMessageError": 1,
                                           "wrong_topic": 1}
        assert journal.backlog() == 5 and agent.counters.entries_acked == 0
        server.ack(DEVICE, pairs[:2])  # the genuine article
        assert wait_for(lambda: journal.backlog() == 3)
        assert wait_for(lambda: agent.counters.entries_acked == 2)


def test_a_settled_intent_is_sent_again(make_device, mosquitto, server: StandInServer, journal: Journal) -> None:
    device = make_device(mosquitto, ack_timeout=30)  # no republishing: only the agent's own logic
    with running(device):
        # acked as an intent, then completed: the new revision goes up
        first = journal.begin(kind="tap", uid=b"\x01\x02\x03\x04", card_number=1, counter_before=5, counter_after=6,
                              amount_cents=-150, details={})
        assert wait_for(lambda: journal.entry(first).acked)
        journal.complete(first, balance_cents=850, decision="approved", reason="fare")
        assert wait_for(lambda: journal.entry(first).acked and journal.entry(first).rev == 1)
        assert server.stored[(DEVICE, first)] == 1
        # completed while its intent is in flight: the intent's ack marks nothing, the completion goes up
        server.acking.clear()
        second = journal.begin(kind="tap", uid=b"\x01\x02\x03\x04", card_number=1, counter_before=6,
                               counter_after=7, amount_cents=-150, details={})
        assert wait_for(lambda: (DEVICE, second) in server.stored)
        journal.complete(second, balance_cents=700, decision="approved", reason="fare")
        server.acking.set()
        server.ack(DEVICE, [(second, 0)])
        assert wait_for(lambda: server.stored.get((DEVICE, second)) == 1)
        assert wait_for(lambda: journal.backlog() == 0)
        assert journal.entry(second).state is EntryState.DONE


def test_taps_written_by_another_process_are_published(device, server: StandInServer, journal: Journal) -> None:
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.journal_writer",
                               str(device.data_dir / JOURNAL_FILENAME), str(DEVICE), "--count", "200"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with running(device) as agent:
        assert writer.wait(30) == 0, writer.stderr.read() if writer.stderr else ""
        assert wait_for(lambda: journal.backlog() == 0, 10), journal.backlog()
        assert server.stored_seqs(DEVICE) == set(range(1, 201))
        assert all(rev == 1 for (_, seq), rev in server.stored.items())  # every tap's DONE revision
        assert agent.counters.rejected_total == 0


def test_status_on_connect_every_heartbeat_and_offline_on_stop(make_device, mosquitto, server: StandInServer,
                                                               journal: Journal) -> None:
    device = make_device(mosquitto, heartbeat=0.3)
    server.acking.clear()
    tap(journal)
    tap(journal, 1)
    with running(device) as agent:
        assert wait_for(lambda: len([s for s in server.statuses if s.online]) >= 3, 3)  # connect + heartbeats
        status = server.last_status(DEVICE, online=True)
        assert status is not None
        assert status.list_versions == {"denylist": 0, "loads": 0, "config": 0}
        assert (status.backlog, status.last_seq) == (2, 2)
        assert wait_for(lambda: agent.counters.statuses >= 3)
    assert wait_for(lambda: (s := server.last_status(DEVICE)) is not None and not s.online)
    offline = server.last_status(DEVICE)
    assert offline is not None and (offline.backlog, offline.last_seq) == (2, 2)


def test_a_tls_run_with_client_certificates(make_device, mosquitto_tls, server_keys, journal_for) -> None:
    device = make_device(mosquitto_tls)
    assert load_config(device.config, environ={}).sync.tls
    with StandInServer(mosquitto_tls, server_keys, {DEVICE: device.signing_key.public_key()}) as server:
        journal = journal_for(device)
        seqs = [tap(journal, n) for n in range(30)]
        with running(device):
            assert wait_for(lambda: journal.backlog() == 0, 10)
        assert server.stored_seqs(DEVICE) == set(seqs)
        assert wait_for(lambda: (s := server.last_status(DEVICE)) is not None and not s.online)


def test_the_broker_refuses_a_device_certificate_used_by_another_device(make_device, mosquitto_tls,
                                                                         server_keys) -> None:
    # Device 1203 configured with 1201's certificate: the broker's ACL confines it to 1201's topics, so its
    # publications to cc/v1/dev/1203/ never arrive.
    impostor = make_device(mosquitto_tls, device_id=1203)
    text = impostor.config.read_text().replace("1203.crt", "1201.crt").replace("1203.key", "1201.key")
    impostor.config.write_text(text)
    with (StandInServer(mosquitto_tls, server_keys, {1203: impostor.signing_key.public_key()}) as server,
          Journal(impostor.data_dir / JOURNAL_FILENAME, 1203) as journal):
        tap(journal)
        with running(impostor) as agent:
            assert wait_for(lambda: agent.counters.batches_published >= 1)
            assert wait_for(lambda: agent.counters.publications_refused >= 2)  # the status and the batch
            assert not wait_for(lambda: server.stored or server.statuses, 0.3)
            assert journal.backlog() == 1


def test_missing_key_files_stop_the_agent_before_it_starts(device) -> None:
    config = load_config(device.config, environ={})
    (device.config.parent / "server.pub").unlink()
    with pytest.raises(SyncKeyError, match=r"\[sync\] server_key: .*server.pub does not exist"):
        Agent(config)
    (device.config.parent / "sync.key").write_text("junk")
    with pytest.raises(SyncKeyError, match=r"\[sync\] signing_key: .*not a readable Ed25519 private key"):
        Agent(config)


def test_a_failing_network_thread_stops_the_agent(device, server: StandInServer, monkeypatch) -> None:
    agent = Agent(load_config(device.config, environ={}))
    stop = threading.Event()
    thread = agent.start(stop)
    assert wait_for(agent.connected.is_set)
    broken = RuntimeError("a bug in the network thread")

    def explode(*_args, **_kwargs):
        raise broken

    # paho's loop, inside its thread, fails from now on
    monkeypatch.setattr("device.sync.connection._Client._loop", explode)
    thread.join(10)
    assert not thread.is_alive() and not stop.is_set()
    assert isinstance(agent.failure, SyncConnectionError) and agent.failure.__cause__ is broken


def test_batches_too_large_for_a_message_are_split(make_device, mosquitto, server: StandInServer,
                                                   journal: Journal) -> None:
    device = make_device(mosquitto, batch_size=200)
    padding = "x" * 2000  # 200 such entries exceed the 256 KiB of a message
    seqs = [journal.record(kind="tap", uid=None, card_number=n, amount_cents=0, balance_cents=None,
                           decision="denied", reason="blocked", details={"note": padding}) for n in range(200)]
    huge = journal.record(kind="tap", uid=None, card_number=1, amount_cents=0, balance_cents=None,
                          decision="denied", reason="blocked", details={"note": "x" * 300_000})
    after = tap(journal, 1)
    with running(device) as agent:
        assert wait_for(lambda: journal.backlog() == 1, 10)  # everything but the one entry no message can hold
        assert not journal.entry(huge).acked and journal.entry(after).acked
        assert server.stored_seqs(DEVICE) == {*seqs, after}
        assert max(len(batch.entries) for batch in server.batches) < 200
        assert agent.counters.rejected == {"oversized_entry": 1}


def test_acknowledged_entries_past_the_retention_are_pruned(make_device, mosquitto, server: StandInServer,
                                                            journal: Journal) -> None:
    """Retention one day, pruning every 0.2 s: the entries acknowledged and
    settled three days ago go; the unacknowledged ones and an open intent of
    that age stay, as do recent ones; sequence numbers never go back."""
    device = make_device(mosquitto, retention=1.0)
    three_days_ago = utc_now() - dt.timedelta(days=3)
    with Journal(device.data_dir / JOURNAL_FILENAME, DEVICE, clock=lambda: three_days_ago) as then:
        old_acked = [tap(then, n) for n in range(5)]
        intent = then.begin(kind="tap", uid=b"\x01\x02\x03\x04", card_number=1, counter_before=5, counter_after=6,
                            amount_cents=-150, details={})
    recent = [tap(journal, n) for n in range(5, 8)]
    with running(device, prune_interval=0.2) as agent:
        assert wait_for(lambda: agent.counters.entries_pruned == 5, 10), agent.counters
        assert journal.backlog() == 0
        server.acking.clear()  # from now on the server stores but does not answer
        with Journal(device.data_dir / JOURNAL_FILENAME, DEVICE, clock=lambda: three_days_ago) as then:
            old_unacked = [tap(then, n) for n in range(8, 11)]
        assert wait_for(lambda: server.stored_seqs(DEVICE) >= set(old_unacked))
        prunings = agent.counters.prunings
        assert wait_for(lambda: agent.counters.prunings >= prunings + 3)  # a few more, that find nothing
        assert agent.counters.entries_pruned == 5
    for seq in old_acked:
        with pytest.raises(UnknownEntryError):
            journal.entry(seq)
    assert journal.entry(intent).state is EntryState.INTENT and journal.entry(intent).acked
    assert all(journal.entry(seq).acked for seq in recent)
    assert [journal.entry(seq).acked for seq in old_unacked] == [False] * 3
    assert journal.last_seq() == old_unacked[-1] == 12
    assert tap(journal, 11) == 13  # never a number given before
