"""The device layer's exception tree.

    DeviceError
    ├── KeyStoreError (ValueError)        the key file is missing, unreadable, malformed or too open
    ├── JournalError                      the journal cannot be opened or used; the cause is chained
    │   ├── JournalFullError              the disk is full or failing: nothing of the operation was recorded
    │   ├── UnknownEntryError (LookupError)   no entry has that sequence number
    │   └── EntryStateError (ValueError)      the entry is not in a state that allows the operation
    ├── ConfigError (ValueError)          the config file or an environment override is missing, malformed,
    │                                     or has an unknown key or a value out of range (file, table, key named)
    ├── VersionConflict                   a versioned list update that does not follow the version held
    │                                     (``stale``: already held, ignore it; otherwise ask for a full list);
    │                                     also the base of ListVersionError and DenyListVersionError
    ├── ListStoreError                    a list store (pending loads, config documents) cannot be opened,
    │   │                                 read or written; the sqlite3 error is the cause
    │   ├── ListVersionError (VersionConflict)   a pending-load or configuration update out of sequence
    │   └── ListEntryError (ValueError)   a malformed entry (amount, sequence, key length, duplicate, a load
    │                                     both added and removed, a document that is not a JSON object)
    ├── DenyListError                     the deny-list file cannot be opened, read or written (not a deny
    │   │                                 list, newer format, corrupt, disk full, closed); the cause is chained
    │   ├── DenyListVersionError (VersionConflict)   a deny-list update out of sequence
    │   └── DenyListEntryError (ValueError)   a malformed entry (no key, a UID not 4 or 7 bytes, no reason,
    │                                         a key both added and removed) or version number
    └── SyncError                         the sync agent cannot run; the cause is chained
        ├── SyncKeyError (ValueError)     the device's signing key, the server's public key or a TLS file is
        │                                 missing, unreadable or not what it should be: the agent does not start
        └── SyncConnectionError           the broker's address cannot be used at all, or the MQTT network
                                          thread failed (a broker that is down is not an error: the agent
                                          retries, and the journal keeps every entry meanwhile)
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error raised by the device layer."""


class KeyStoreError(DeviceError, ValueError):
    """The key file cannot be used; the message says why and what to do."""


class JournalError(DeviceError):
    """The journal cannot be opened or used (not a journal, another device's
    journal, a newer schema, a locked or corrupt file, closed); the SQLite
    error, if any, is the ``__cause__``."""


class JournalFullError(JournalError):
    """The disk is full (SQLITE_FULL) or failing (SQLITE_IOERR): the operation
    was rolled back and recorded nothing. The journal stays consistent and
    works again once space is freed."""


class UnknownEntryError(JournalError, LookupError):
    """No journal entry has that sequence number (never written, or pruned)."""


class EntryStateError(JournalError, ValueError):
    """The entry's state does not allow the operation (e.g. completing an
    entry that is already DONE or ABORTED)."""


class ConfigError(DeviceError, ValueError):
    """The device configuration cannot be used: the file is missing or not
    TOML, or a table, key or value (from the file or the environment) is
    wrong. The message starts with the file and names the table and key, e.g.
    ``config.toml: [device] mode: 'tram' is not one of bus, bike, ev``."""


class ListStoreError(DeviceError):
    """A list store cannot be used: the SQLite file cannot be opened, read or
    written (disk full, corrupt, locked for too long, closed). The ``sqlite3``
    error is kept as ``__cause__``; no partial change was made."""


class VersionConflict(DeviceError):
    """An update of a versioned list does not fit the version held; nothing
    was changed. ``stale`` is true when it leads nowhere newer than what is
    held (a replayed delta, an older full list, a document not newer than the
    one held): ignore it. ``overtaken`` is true for a delta that starts
    before the version held and leads past it: it was computed from an older
    report of this device, which has applied another update since (a catch-up
    delta crossing a broadcast one); the device lacks nothing a delta from the
    version held cannot bring, so it reports that version again. Otherwise a
    delta starts from a version after the one held (the device missed an
    update) or goes back: ask the server for a full list. The sync agent
    handles every list's conflict the same way through this class."""

    def __init__(self, message: str, *, held: int, from_version: int | None, to_version: int) -> None:
        super().__init__(message)
        self.held = held
        """The version the device holds (0: none)."""
        self.from_version = from_version
        """The version a delta starts from; ``None`` for a full list or a document."""
        self.to_version = to_version
        """The version the update leads to."""

    @property
    def stale(self) -> bool:
        """True when the update leads nowhere newer than what is held."""
        return self.to_version <= self.held

    @property
    def overtaken(self) -> bool:
        """True for a delta from before the version held to after it."""
        return self.from_version is not None and self.from_version < self.held < self.to_version


class ListVersionError(ListStoreError, VersionConflict):
    """A pending-load or configuration update does not fit the version held
    (see :class:`VersionConflict`)."""


class ListEntryError(ListStoreError, ValueError):
    """An entry handed to a list store is malformed: a pending load with an
    amount, a sequence number or a key out of range, a duplicate entry, a
    configuration document that is not a JSON object. Nothing was changed."""


class DenyListError(DeviceError):
    """The deny-list file cannot be used: it cannot be opened, read or
    written (not a deny list, written by a newer version, corrupt, disk full,
    locked for too long, closed). The ``sqlite3`` error, if any, is the
    ``__cause__``; an update that raised it changed nothing, on disk or in
    memory."""


class DenyListVersionError(DenyListError, VersionConflict):
    """A deny-list update does not fit the version held (see :class:`VersionConflict`)."""


class DenyListEntryError(DenyListError, ValueError):
    """A deny-list entry or version number is malformed: an entry with
    neither card number nor UID, a card number outside 64 bits, a UID that is
    not 4 or 7 bytes, an added entry without a reason, a key both added and
    removed by one delta, a version that is not an integer from 1. Nothing was
    changed."""


class SyncError(DeviceError):
    """The sync agent cannot run (see its subclasses); the cause is chained."""


class SyncKeyError(SyncError, ValueError):
    """A key or certificate file the agent needs is missing, unreadable or
    malformed: the device's Ed25519 signing key, the server's Ed25519 public
    key, or a TLS file (CA, client certificate, client key). The message names
    the file, the ``[sync]`` key and what to do; the agent does not start."""


class SyncConnectionError(SyncError):
    """The broker cannot be used at all (an address that does not resolve, a
    TLS setup paho refuses), or the MQTT network thread failed. A broker that
    is merely down is not this error: the agent reconnects with backoff."""
