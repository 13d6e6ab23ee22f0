"""The items of a :class:`~device.protocol.messages.ListUpdate`, to and from
the objects the device's lists hold. One module for both sides: the server
builds items with the ``*_to_item`` functions, the device reads them with the
``*_from_item`` functions, so the two cannot drift apart.

=========  =============================================================  ==================================
list       added item                                                     removed item
=========  =============================================================  ==================================
denylist   ``{"card_number": int|null, "uid": hex|null, "reason": str}``  ``{"card_number": ..., "uid": ...}``
loads      ``{"card_number", "load_seq", "amount_cents",                   ``{"card_number", "load_seq"}``
           "purse_key_b": hex, "created_at": ISO-8601 UTC}``
config     ``{"name": str, "document": object}``                           (none: documents are replaced)
=========  =============================================================  ==================================

Hex is lower case without separators. Every ``*_from_item`` checks the
object exactly (every key present, no other key, each of its type) and
raises :class:`~device.protocol.errors.MalformedMessageError` naming the
item and the field at fault; the list objects' own checks (a UID of 4 or 7
bytes, an amount above 0, ...) are converted to it, with the original error
as the cause.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from device.denylist import DenyEntry
from device.errors import DenyListEntryError, ListEntryError
from device.lists import PendingLoad

from .errors import MalformedMessageError

Item = dict[str, Any]

_DENY_KEYS = ("card_number", "uid", "reason")
_DENY_REMOVAL_KEYS = ("card_number", "uid")
_LOAD_KEYS = ("card_number", "load_seq", "amount_cents", "purse_key_b", "created_at")
_LOAD_REMOVAL_KEYS = ("card_number", "load_seq")
_CONFIG_KEYS = ("name", "document")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


# -- deny-list ----------------------------------------------------------------------------------------

def deny_entry_to_item(entry: DenyEntry) -> Item:
    """The added item of a deny-list entry."""
    return {"card_number": entry.card_number, "uid": _hex(entry.uid), "reason": entry.reason}


def deny_entry_from_item(item: object) -> DenyEntry:
    """The deny-list entry of an added item.

    :raises MalformedMessageError: for a wrong shape, a UID that is not hex
        of 4 or 7 bytes, no key, or an empty reason.
    """
    fields = _fields("deny-list item", item, _DENY_KEYS)
    card_number = _optional_int("deny-list item", fields, "card_number")
    uid = _optional_hex("deny-list item", fields, "uid")
    reason = fields["reason"]
    if not isinstance(reason, str) or not reason:
        raise MalformedMessageError(f"deny-list item: reason must be a non-empty string, got {reason!r:.60}")
    return _deny_entry(card_number, uid, reason)


def deny_removal_to_item(card_number: int | None, uid: bytes | None) -> Item:
    """The removed item naming the keys ``card_number`` and ``uid`` (either may be ``None``)."""
    return {"card_number": card_number, "uid": _hex(uid)}


def deny_removal_from_item(item: object) -> DenyEntry:
    """The keys a removed item names, as the :class:`DenyEntry` (reason ``""``)
    that :meth:`device.denylist.DenyList.apply_delta` takes in ``removed``.

    :raises MalformedMessageError: for a wrong shape, a bad UID, or no key.
    """
    fields = _fields("deny-list removal", item, _DENY_REMOVAL_KEYS)
    card_number = _optional_int("deny-list removal", fields, "card_number")
    uid = _optional_hex("deny-list removal", fields, "uid")
    return _deny_entry(card_number, uid, "")


def _deny_entry(card_number: int | None, uid: bytes | None, reason: str) -> DenyEntry:
    try:
        return DenyEntry(card_number, uid, reason)
    except DenyListEntryError as exc:
        raise MalformedMessageError(f"deny-list item: {exc}") from exc


# -- pending loads ------------------------------------------------------------------------------------

def load_to_item(load: PendingLoad) -> Item:
    """The added item of a pending load (its ``created_at`` in UTC)."""
    return {
        "card_number": load.card_number,
        "load_seq": load.load_seq,
        "amount_cents": load.amount_cents,
        "purse_key_b": load.purse_key_b.hex(),
        "created_at": load.created_at.astimezone(dt.UTC).isoformat(),
    }


def load_from_item(item: object) -> PendingLoad:
    """The pending load of an added item.

    :raises MalformedMessageError: for a wrong shape, a key that is not hex
        of 6 bytes, a time without a time zone, or a number out of range.
    """
    fields = _fields("load item", item, _LOAD_KEYS)
    numbers = [_int("load item", fields, name) for name in ("card_number", "load_seq", "amount_cents")]
    key = _optional_hex("load item", fields, "purse_key_b")
    if key is None:
        raise MalformedMessageError("load item: purse_key_b must be a hex string, got None")
    created_at = fields["created_at"]
    try:
        moment = dt.datetime.fromisoformat(created_at) if isinstance(created_at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise MalformedMessageError(f"load item: created_at must be an ISO-8601 time with a time zone, "
                                    f"got {created_at!r:.60}")
    try:
        return PendingLoad(*numbers, key, moment)
    except ListEntryError as exc:
        raise MalformedMessageError(f"load item: {exc}") from exc


def load_removal_to_item(card_number: int, load_seq: int) -> Item:
    """The removed item of the load ``(card_number, load_seq)``."""
    return {"card_number": card_number, "load_seq": load_seq}


def load_removal_from_item(item: object) -> tuple[int, int]:
    """``(card_number, load_seq)`` of a removed item, as
    :meth:`device.lists.PendingLoads.apply_delta` takes in ``removed_seqs``.

    :raises MalformedMessageError: for a wrong shape or a number that is not an integer.
    """
    fields = _fields("load removal", item, _LOAD_REMOVAL_KEYS)
    return _int("load removal", fields, "card_number"), _int("load removal", fields, "load_seq")


# -- configuration ------------------------------------------------------------------------------------

def config_to_item(name: str, document: Mapping[str, Any]) -> Item:
    """The added item of the configuration document ``name``."""
    return {"name": name, "document": dict(document)}


def config_from_item(item: object) -> tuple[str, dict[str, Any]]:
    """``(name, document)`` of an added item.

    :raises MalformedMessageError: for a wrong shape, an empty name, or a
        document that is not a JSON object.
    """
    fields = _fields("config item", item, _CONFIG_KEYS)
    name, document = fields["name"], fields["document"]
    if not isinstance(name, str) or not name:
        raise MalformedMessageError(f"config item: name must be a non-empty string, got {name!r:.60}")
    if not isinstance(document, dict) or not all(isinstance(key, str) for key in document):
        raise MalformedMessageError(f"config item {name!r}: document must be a JSON object")
    return name, dict(document)


# -- checks -------------------------------------------------------------------------------------------

def _fields(what: str, item: object, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise MalformedMessageError(f"{what}: expected an object, got {type(item).__name__}")
    missing = [key for key in keys if key not in item]
    unknown = sorted(str(key) for key in item if key not in keys)
    if missing or unknown:
        raise MalformedMessageError(f"{what}: missing {missing}, unknown {unknown}")
    return item


def _int(what: str, fields: Mapping[str, Any], name: str) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessageError(f"{what}: {name} must be an integer, got {value!r:.60}")
    return value


def _optional_int(what: str, fields: Mapping[str, Any], name: str) -> int | None:
    return None if fields[name] is None else _int(what, fields, name)


def _optional_hex(what: str, fields: Mapping[str, Any], name: str) -> bytes | None:
    value = fields[name]
    if value is None:
        return None
    if isinstance(value, str) and _HEX.fullmatch(value):
        return bytes.fromhex(value)
    # The value is not shown: purse_key_b is a card key.
    raise MalformedMessageError(f"{what}: {name} must be a string of hex digit pairs or null")


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex()
