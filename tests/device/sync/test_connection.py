"""The MQTT link's reconnection backoff: exponential, capped, jittered."""

from __future__ import annotations

import random

from device.sync.connection import MqttLink


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets_on_connect() -> None:
    events: list[object] = []
    link = MqttLink("device-1201", "127.0.0.1", 1, events.append, subscriptions=(), reconnect_min=0.5,
                    reconnect_max=8.0, rng=random.Random(7))
    delays = []
    for _ in range(10):
        link._on_connect_fail(None, None)
        delays.append(link.reconnect_delay)
    for failures, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 0.5 * 2**failures)
        assert max(0.5, ceiling / 2) <= delay <= ceiling
    assert delays[-1] > 4.0 and len(set(delays)) == len(delays)  # capped, and never twice the same
    others = MqttLink("device-1202", "127.0.0.1", 1, events.append, subscriptions=(), reconnect_min=0.5,
                      reconnect_max=8.0, rng=random.Random(8))
    for _ in range(10):
        others._on_connect_fail(None, None)
    assert others.reconnect_delay != link.reconnect_delay  # two devices do not come back in step

    class Reason:
        is_failure = False

    class Flags:
        session_present = True

    link._on_connect(link._client, None, Flags(), Reason(), None)
    assert link.reconnect_delay <= 1.0 and link._failures == 0
    assert [type(e).__name__ for e in events] == ["Connected"]
