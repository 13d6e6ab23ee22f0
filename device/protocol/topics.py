"""The MQTT topic tree, under a versioned prefix, one subtree per device::

    cc/v1/dev/<device>/tx             up    TxBatch (QoS 1)
    cc/v1/dev/<device>/status         up    Status, retained; also the last will
    cc/v1/dev/<device>/list-request   up    ListRequest
    cc/v1/dev/<device>/ack            down  Ack
    cc/v1/dev/<device>/list/<name>    down  ListUpdate for this device (a full list it asked for)
    cc/v1/lists/<name>                down  ListUpdate for every device (deltas)

A device may publish only under its own ``dev/<device>/`` (the broker's ACL;
ingest checks it again against the signer). Ingest workers share the up
topics through an MQTT v5 shared subscription, so several split the load.
"""

from __future__ import annotations

from .errors import MalformedMessageError

PREFIX = "cc/v1"
UP_LEAVES = ("tx", "status", "list-request")
SHARED_GROUP = "ingest"


def device_topic(device_id: int, leaf: str) -> str:
    return f"{PREFIX}/dev/{device_id}/{leaf}"


def tx_topic(device_id: int) -> str:
    return device_topic(device_id, "tx")


def status_topic(device_id: int) -> str:
    return device_topic(device_id, "status")


def list_request_topic(device_id: int) -> str:
    return device_topic(device_id, "list-request")


def ack_topic(device_id: int) -> str:
    return device_topic(device_id, "ack")


def device_list_topic(device_id: int, name: str) -> str:
    return device_topic(device_id, f"list/{name}")


def broadcast_list_topic(name: str) -> str:
    return f"{PREFIX}/lists/{name}"


def device_subscriptions(device_id: int) -> tuple[str, ...]:
    """What a device agent subscribes to."""
    return ack_topic(device_id), device_topic(device_id, "list/+"), f"{PREFIX}/lists/+"


def ingest_subscriptions() -> tuple[str, ...]:
    """What an ingest worker subscribes to: the up topics of every device, shared."""
    return tuple(f"$share/{SHARED_GROUP}/{PREFIX}/dev/+/{leaf}" for leaf in UP_LEAVES)


def parse_device_topic(topic: str) -> tuple[int, str]:
    """The device id and the leaf of a device topic.

    :raises MalformedMessageError: for a topic outside the device tree.
    """
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX or parts[2] != "dev" or not parts[3].isdigit():
        raise MalformedMessageError(f"{topic!r} is not a device topic under {PREFIX}/dev/<device>/")
    return int(parts[3]), "/".join(parts[4:])
