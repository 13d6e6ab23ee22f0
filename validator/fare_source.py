"""Where a validator's fare table comes from: the ``[fares]`` tables of its
configuration file, or a newer table the server sent in its configuration
list (the ``fares`` document of :class:`~device.lists.ConfigStore`, written
by the sync agent's process).

:func:`fare_table` chooses at start. A running validator takes up a newer
table at a tap boundary: :meth:`FareSource.refresh`, called by the tap engine
before it decides a tap, compares the list store's ``PRAGMA data_version``
(a few microseconds; it moves when another connection commits) with the one
it last saw, and only when it moved reads the document again. A table that
does not parse is logged and skipped; the validator goes on with the one in
force until a newer document comes.
"""

from __future__ import annotations

import logging

from device.config import DeviceConfig
from device.lists import ListStore

from .errors import FareTableError
from .fares import FareTable

log = logging.getLogger(__name__)

FARES_DOCUMENT = "fares"
"""The configuration document that holds the fare table."""


def fare_table(config: DeviceConfig, lists: ListStore) -> FareTable:
    """The newest fare table: the server's (configuration list) or the config file's.

    :raises FareTableError: naming the key at fault.
    :raises ListStoreError: when the list store cannot be read or written.
    """
    return _newest(config, lists)[1]


def _newest(config: DeviceConfig, lists: ListStore) -> tuple[int, FareTable]:
    """The newest table and its document's version."""
    local = FareTable.from_mapping(config.fares)
    stored = lists.config.get(FARES_DOCUMENT)
    if stored is None or stored[0] < local.version:
        lists.config.put(FARES_DOCUMENT, local.version, dict(config.fares))
        return local.version, local
    return stored[0], FareTable.from_mapping(stored[1])


class FareSource:
    """The fare table in force, taken up again from ``lists`` when the sync
    agent's process commits a newer one. Used by the thread that uses
    ``lists`` (the tap loop's).

    :raises FareTableError: when the table chosen at start does not parse.
    :raises ListStoreError: when the list store cannot be read or written.
    """

    def __init__(self, config: DeviceConfig, lists: ListStore) -> None:
        self._lists = lists
        # Read before the table: a commit landing in between is looked at by the next refresh, never missed.
        self._data_version = lists.data_version()
        self._seen, self.table = _newest(config, lists)  # _seen: the newest document looked at, good or bad

    def refresh(self) -> FareTable | None:
        """The new table when the server's document is newer than the one in
        force (it is then in force), else ``None``.

        :raises ListStoreError: when the list store cannot be read.
        """
        data_version = self._lists.data_version()
        if data_version == self._data_version:
            return None
        self._data_version = data_version
        stored = self._lists.config.get(FARES_DOCUMENT)
        if stored is None or stored[0] <= self._seen:
            return None  # another list changed (pending loads), or a table already looked at
        version, document = stored
        self._seen = version
        try:
            table = FareTable.from_mapping(document)
        except FareTableError:
            log.exception("the server's fare table (configuration version %s) is refused; fare table "
                          "version %s stays in force", version, self.table.version)
            return None
        log.info("fare table version %s (configuration version %s) is now in force", table.version, version)
        self.table = table
        return table
