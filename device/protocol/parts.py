"""List updates larger than one message: split by the server, assembled by
the device.

A full deny-list of a city does not fit the protocol's 256 KiB. The server
cuts an update into parts (:func:`split`): the same list, versions and
``issued_at`` in each, the removals and then the additions shared out in
order, each part under the size limit, numbered ``part`` 1..``parts``. The
device keeps the parts of each update (:class:`Assembler`) and hands over
the whole update once it holds every part, so a list is still applied in
one transaction, whatever the order the parts arrived in. Parts are signed
one by one, like any message; an assembly that never completes (a part
lost with a session) is dropped when newer updates push it out, and the
device's status makes the server send the list again.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from typing import Any

from .codec import MAX_MESSAGE_BYTES
from .errors import MalformedMessageError
from .messages import ListUpdate

PART_BUDGET = MAX_MESSAGE_BYTES - 16 * 1024
"""Bytes of items per part: the limit less room for the envelope and the signature."""

MAX_PARTS = 4096
"""Most parts an update may have (about a gigabyte of list): more is refused as malformed."""

MAX_ASSEMBLIES = 8
"""Updates being assembled at once; the oldest is dropped beyond it."""


def _size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":"))) + 1


def split(update: ListUpdate, budget: int = PART_BUDGET) -> list[ListUpdate]:
    """``update`` as parts of at most ``budget`` bytes of items each (one part when it fits)."""
    tagged = [("removed", item) for item in update.removed] + [("added", item) for item in update.added]
    chunks: list[list[tuple[str, dict[str, Any]]]] = [[]]
    used = 0
    for side, item in tagged:
        size = _size(item)
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append((side, item))
        used += size
    return [dataclasses.replace(update, part=number, parts=len(chunks),
                                added=tuple(item for side, item in chunk if side == "added"),
                                removed=tuple(item for side, item in chunk if side == "removed"))
            for number, chunk in enumerate(chunks, start=1)]


class Assembler:
    """The parts of updates received so far; :meth:`add` returns an update once whole."""

    def __init__(self, max_assemblies: int = MAX_ASSEMBLIES) -> None:
        self.max_assemblies = max_assemblies
        self._pending: OrderedDict[tuple[Any, ...], dict[int, ListUpdate]] = OrderedDict()

    def add(self, update: ListUpdate) -> ListUpdate | None:
        """The whole update when ``update`` completes it (or is whole), else ``None``.

        :raises MalformedMessageError: for a part number out of range.
        """
        if not 1 <= update.parts <= MAX_PARTS or not 1 <= update.part <= update.parts:
            raise MalformedMessageError(f"list_update part {update.part} of {update.parts}")
        if update.parts == 1:
            return update
        key = (update.list, update.full, update.from_version, update.to_version, update.issued_at,
               update.device_id, update.parts)
        parts = self._pending.setdefault(key, {})
        self._pending.move_to_end(key)
        parts[update.part] = update
        while len(self._pending) > self.max_assemblies:
            self._pending.popitem(last=False)
        if len(parts) < update.parts:
            return None
        del self._pending[key]
        ordered = [parts[number] for number in range(1, update.parts + 1)]
        return dataclasses.replace(update, part=1, parts=1,
                                   added=tuple(item for part in ordered for item in part.added),
                                   removed=tuple(item for part in ordered for item in part.removed))

    @property
    def pending(self) -> int:
        """Updates waiting for parts."""
        return len(self._pending)
