"""Builders for the tests of the transaction pull, reports and settlements:
devices of a service and operator, and their transactions ingested as
devices send them (``received_at`` is the store's clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sync_server.store import SyncStore
from tests.sync_server.builders import DEVICE_KEY, batch, entry

DAY = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def at(hours: float = 0, day: dt.datetime = DAY) -> str:
    """An ISO time, as devices send it, ``hours`` after ``day``."""
    return (day + dt.timedelta(hours=hours)).isoformat(timespec="microseconds")


def register(store: SyncStore, devices: dict[int, tuple[str, int]]) -> None:
    """Register each ``device_id -> (mode, operator)``."""
    for device_id, (mode, operator) in devices.items():
        store.register_device(device_id, DEVICE_KEY, mode=mode, operator=operator, location=1)


def tx(seq: int, *, kind: str = "bus", amount: int = -150, state: str = "done", card: int | None = 1001,
       hours: float = 8, decision: str = "approved", reason: str = "approved", uid: str | None = "04a1b2c3",
       details: dict[str, Any] | None = None) -> Any:
    return entry(seq, kind=kind, amount=amount, state=state, card=card, created_at=at(hours), decision=decision,
                 reason=reason, uid=uid, details=details)


def send(store: SyncStore, device_id: int, entries: Iterable[Any]) -> None:
    store.ingest([batch(device_id, *entries)])
