"""The device's sync agent: one process beside the validator that sends the
journal up and brings the lists down over MQTT v5 (``citizencard agent``).

- :mod:`.agent`: :class:`~device.sync.agent.Agent`, the loop that owns the
  journal, the deny-list and the list store, and its counters;
- :mod:`.connection`: the paho-mqtt client, whose callbacks only hand over
  to the agent's queue;
- :mod:`.outbox`: the window of transaction batches in flight, until the
  server's signed ack;
- :mod:`.apply`: list updates from the server applied to the stores;
- :mod:`.keys`: the signing key, the server's key and the TLS files, checked
  before anything starts;
- :mod:`.wire`: journal entries as protocol records.

See docs/sync-agent.md.
"""
