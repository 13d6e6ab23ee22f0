"""List updates from the server, applied to the device's stores.

A :class:`~device.protocol.messages.ListUpdate` (already verified: signed by
the server, for this device or for every device) is turned into the
stores' own records by :mod:`device.protocol.items` and applied in one
transaction of the store that holds it:

- ``denylist``: :class:`~device.denylist.DenyList` (``apply_full`` / ``apply_delta``);
- ``loads``: :class:`~device.lists.PendingLoads` (``apply_full`` / ``apply_delta``);
- ``config``: :class:`~device.lists.ConfigStore` (``apply_update``: each
  document held at the update's version, and the list's version; documents
  are replaced, never removed, so removals are logged and ignored).

Every item is converted before anything is written, so a bad item leaves
the store as it was. The outcome says what the agent does next:
:attr:`Outcome.APPLIED` (report the new versions), :attr:`Outcome.STALE`
(already held: nothing), :attr:`Outcome.CONFLICT` (a delta from a version
not held: ask for the full list, or, when the delta overlaps what is held,
report the version held so the server sends a delta from it).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from device.denylist import DenyList
from device.errors import VersionConflict
from device.lists import ListStore
from device.protocol import items
from device.protocol.errors import MalformedMessageError
from device.protocol.messages import LIST_NAMES, ListUpdate

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    CONFLICT = "conflict"


class ListApplier:
    """Applies list updates to ``denylist`` and ``lists`` (both owned by the
    caller's thread)."""

    def __init__(self, denylist: DenyList, lists: ListStore) -> None:
        self.denylist = denylist
        self.lists = lists

    def versions(self) -> dict[str, int]:
        """The version of each list held (0: none yet), for the device's status.

        :raises ListStoreError: when the list store cannot be read.
        """
        return {
            "denylist": self.denylist.version,
            "loads": self.lists.pending_loads.version,
            "config": self.lists.config.version,
        }

    def held(self, name: str) -> int:
        """The version of list ``name`` held."""
        return self.versions()[name]

    def apply(self, update: ListUpdate) -> tuple[Outcome, VersionConflict | None]:
        """Apply ``update``; the conflict, if any, says what is held.

        :raises MalformedMessageError: for an unknown list, a full list with
            removals or a ``from_version``, a delta without one, or an item
            that does not convert (nothing was changed).
        :raises DenyListEntryError, ListEntryError: for an item a store
            refuses (nothing was changed).
        :raises DenyListError, ListStoreError: when the store cannot be written.
        """
        if update.list not in LIST_NAMES:
            raise MalformedMessageError(f"list_update for an unknown list {update.list!r}")
        if update.full and (update.from_version is not None or update.removed):
            raise MalformedMessageError(f"a full {update.list} list has no from_version and no removals")
        if not update.full and update.from_version is None:
            raise MalformedMessageError(f"a {update.list} delta needs a from_version")
        try:
            getattr(self, f"_{update.list}")(update)
        except VersionConflict as conflict:
            return (Outcome.STALE if conflict.stale else Outcome.CONFLICT), conflict
        return Outcome.APPLIED, None

    def _denylist(self, update: ListUpdate) -> None:
        added = _convert(items.deny_entry_from_item, update.added, "added")
        if update.full:
            self.denylist.apply_full(update.to_version, added)
        else:
            removed = _convert(items.deny_removal_from_item, update.removed, "removed")
            assert update.from_version is not None
            self.denylist.apply_delta(update.from_version, update.to_version, added, removed)

    def _loads(self, update: ListUpdate) -> None:
        loads = self.lists.pending_loads
        added = _convert(items.load_from_item, update.added, "added")
        if update.full:
            loads.apply_full(update.to_version, added)
        else:
            removed = _convert(items.load_removal_from_item, update.removed, "removed")
            assert update.from_version is not None
            loads.apply_delta(update.from_version, update.to_version, added, removed)

    def _config(self, update: ListUpdate) -> None:
        if update.removed:
            # Documents are replaced by newer ones, never withdrawn: the validator always needs its fare table.
            log.warning("config %s -> %s: %d removals ignored (documents are replaced, not removed)",
                        update.from_version, update.to_version, len(update.removed))
        documents = _convert(items.config_from_item, update.added, "added")
        self.lists.config.apply_update(None if update.full else update.from_version, update.to_version, documents)


def _convert(convert: Any, objects: tuple[dict[str, Any], ...], where: str) -> list[Any]:
    out = []
    for index, obj in enumerate(objects):
        try:
            out.append(convert(obj))
        except MalformedMessageError as exc:
            raise MalformedMessageError(f"{where}[{index}]: {exc}") from exc
    return out
