"""The devices page: every registered device, when it was last heard from,
its journal backlog, and the version of each list it holds and how far
behind the server's it is."""

from __future__ import annotations

from flask import render_template

from device.protocol.messages import LIST_NAMES

from ..extensions import database
from .blueprint import bp, now
from .guard import page

DEVICES_ROLES = ("admin", "technician", "auditor")


@bp.get("/devices")
@page(*DEVICES_ROLES)
def devices() -> str:
    """The devices, by id."""
    store = database.store
    versions = store.device_list_versions()
    lag = store.list_lag()
    current = store.list_versions()
    rows = [{
        "device": device,
        "versions": versions.get(device.device_id, {}),
        "lag": lag.get(device.device_id, {}),
        "behind": any(lag.get(device.device_id, {}).values()),
    } for device in sorted(store.devices(), key=lambda device: device.device_id)]
    return render_template("pages/devices.html", rows=rows, list_names=LIST_NAMES, current=current, now=now(),
                           backlog=sum(row["device"].backlog for row in rows),
                           behind=sum(1 for row in rows if row["behind"]))
