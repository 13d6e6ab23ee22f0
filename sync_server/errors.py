"""The sync server's exception tree. Each layer converts the errors of the one
below at its boundary and keeps them as ``__cause__`` (SQLAlchemy's and the
database driver's errors never leave :mod:`sync_server.store` unconverted).

    SyncServerError
    ├── ServerConfigError (ValueError)     the server's configuration cannot be used; the message names the
    │                                      file, the table and the key
    ├── IngestError                        the ingest worker cannot go on: the broker cannot be used, or the
    │                                      MQTT network thread failed (the cause is chained)
    ├── DatabaseURLError (ValueError)      a database URL that cannot be used (bad syntax, another database
    │                                      than SQLite or PostgreSQL)
    ├── MigrationError                     the schema migration (Alembic) failed; the cause is chained
    └── StoreError                         the storage failed: the database cannot be reached, a statement
        │                                  failed, a lock timed out; nothing of that call was committed
        ├── SchemaVersionError             the database is not at the schema this code expects (not
        │                                  migrated, or migrated by a newer version): run the migration
        ├── UnknownDeviceError (LookupError)    no device is registered with that id
        ├── DuplicateDeviceError (ValueError)   a device with that id is registered already
        ├── DuplicateUserError (ValueError)     a staff user with that username exists already
        ├── InvalidValueError (ValueError)      an argument out of range: a public key that is not 32 bytes,
        │   │                                   a deny entry without a key, an amount below 1, ...
        │   └── UnknownListError                a list name other than denylist, loads, config
        ├── LoadSequenceExhaustedError          a card has used all 65,535 load sequence numbers
        └── BatchRejectedError (ValueError)     one batch of an ingest cannot be stored (an unknown device,
                                                an entry that does not fit the schema); ``batch_index``
                                                names it; nothing of the whole call was written
"""

from __future__ import annotations


class SyncServerError(Exception):
    """Base of every error raised by the sync server."""


class ServerConfigError(SyncServerError, ValueError):
    """The server's configuration (file or environment) cannot be used; the
    message starts with its source and names the table and key at fault."""


class IngestError(SyncServerError):
    """The ingest worker cannot go on: the broker's address cannot be used, a
    publish is refused outright, or the MQTT network thread failed. The
    underlying error, if any, is the ``__cause__``."""


class DatabaseURLError(SyncServerError, ValueError):
    """A database URL that cannot be used: not a URL, or a database other
    than SQLite (``sqlite:///path``) or PostgreSQL (``postgresql+psycopg://...``)."""


class MigrationError(SyncServerError):
    """Bringing the schema to a revision failed; Alembic's or the database's
    error is the ``__cause__``. The migration ran in one transaction: on
    SQLite and PostgreSQL (transactional DDL) nothing of it was applied."""


class StoreError(SyncServerError):
    """The storage failed (connection lost, statement refused, lock timeout,
    disk full). The SQLAlchemy error is the ``__cause__``; the call's database
    transaction was rolled back, so nothing of it was committed."""


class SchemaVersionError(StoreError):
    """The database's schema is not the one this code was written for: not
    migrated yet (run ``sync_server.db.migrate.upgrade``) or migrated by a
    newer release."""


class UnknownDeviceError(StoreError, LookupError):
    """No device is registered with that id."""

    def __init__(self, message: str, *, device_id: int) -> None:
        super().__init__(message)
        self.device_id = device_id


class DuplicateDeviceError(StoreError, ValueError):
    """A device with that id is registered already (ids are never reused)."""


class DuplicateUserError(StoreError, ValueError):
    """A staff user with that username exists already (usernames are unique)."""


class InvalidValueError(StoreError, ValueError):
    """An argument is out of range or of the wrong type; the message names it.
    Nothing was written."""


class NotFoundError(StoreError, LookupError):
    """No such record (a card, holder, application, load order, anomaly...);
    the message names it. The API answers 404."""


class UnknownCardError(NotFoundError):
    """The registry holds no card with that number (or UID)."""


class StateConflictError(StoreError):
    """The record is not in a state that allows this (a top-up for a blocked
    card, a decision on an application decided already); nothing was written.
    The API answers 409."""


class CardStateError(StateConflictError):
    """The card's state does not allow this."""


class UnknownHolderError(NotFoundError):
    """The registry holds no card holder with that id."""


class UnknownApplicationError(NotFoundError):
    """No card application has that id."""


class ApplicationStateError(StateConflictError):
    """The application's status does not allow this (approving one decided
    already, issuing one not approved, issuing one issued to another UID)."""


class DuplicateHolderError(StateConflictError):
    """A holder with that document id is registered already (document ids are unique)."""


class UidInUseError(StateConflictError):
    """A card with that UID is registered already (a UID names one card)."""


class UnknownOperatorError(NotFoundError):
    """No operator has that id."""


class UnknownSettlementError(NotFoundError):
    """No settlement has that id."""


class DuplicateOperatorError(StateConflictError):
    """An operator with that id or name exists already."""


class DuplicateServiceError(StateConflictError):
    """A service with that code exists already."""


class SettlementOverlapError(StateConflictError):
    """A first settlement whose period overlaps a settled period of the same
    operator other than exactly (those are settled by adjustments), or an
    adjustment whose cut-off is not after the previous one."""


class UnknownListError(InvalidValueError):
    """A list name other than the server's lists (``denylist``, ``loads``, ``config``)."""


class LoadSequenceExhaustedError(StoreError):
    """The card has used every load sequence number (1..65535, 16 bits on the
    card): no further load can be queued for it. The card must be replaced."""


class BatchRejectedError(StoreError, ValueError):
    """One batch handed to :meth:`~sync_server.store.SyncStore.ingest` cannot
    be stored: its device is not registered, or an entry does not fit (a
    timestamp without a time zone, a UID that is not hex of 4 or 7 bytes, a
    number out of range, an unknown state). Checked before anything is
    written, so nothing of the call was stored; ``batch_index`` is the
    position of the batch at fault, so that the caller can reject that one
    message and ingest the others again. The specific error, if any (an
    :class:`UnknownDeviceError`), is the ``__cause__``."""

    def __init__(self, message: str, *, batch_index: int, device_id: int) -> None:
        super().__init__(message)
        self.batch_index = batch_index
        self.device_id = device_id
