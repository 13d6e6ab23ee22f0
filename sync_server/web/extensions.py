"""The web application's extensions, created unbound and bound to an app
with ``init_app`` (the app keeps their state in ``app.extensions``; nothing
is bound at import time)."""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from ..db.engine import create_engine
from ..db.migrate import upgrade
from ..errors import ServerConfigError
from ..staff import Staff
from ..store import SyncStore, utc_now

_KEY = "citizencard.database"


@dataclass(frozen=True)
class _Bound:
    engine: Engine
    store: SyncStore
    staff: Staff


class Database:
    """The server's database for an app: ``init_app`` creates the engine of
    ``app.config["DATABASE"]`` (a SQLAlchemy URL), migrates it to the current
    schema (unless ``MIGRATE`` is false) and makes the app's
    :class:`~sync_server.store.SyncStore` and :class:`~sync_server.staff.Staff`,
    both on ``app.config["CLOCK"]`` when given (tests). The engine's pool is
    disposed of when the app goes away (or by :meth:`dispose`)."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        url = app.config.get("DATABASE")
        if not url:
            raise ServerConfigError("the app has no DATABASE (a SQLAlchemy URL)")
        clock: Callable[[], dt.datetime] = app.config.get("CLOCK") or utc_now
        engine = create_engine(url)
        try:
            if app.config.get("MIGRATE", True):
                upgrade(engine)
            bound = _Bound(engine, SyncStore(engine, clock=clock), Staff(engine, clock=clock))
        except BaseException:
            engine.dispose()
            raise
        app.extensions[_KEY] = bound
        weakref.finalize(app, engine.dispose)

    @staticmethod
    def _bound(app: Flask | None = None) -> _Bound:
        app = app or current_app
        try:
            bound: _Bound = app.extensions[_KEY]
        except KeyError:
            raise RuntimeError("the Database extension is not bound to this app (init_app)") from None
        return bound

    @property
    def engine(self) -> Engine:
        """The current app's engine."""
        return self._bound().engine

    @property
    def store(self) -> SyncStore:
        """The current app's sync store."""
        return self._bound().store

    @property
    def staff(self) -> Staff:
        """The current app's staff users and tokens."""
        return self._bound().staff

    def dispose(self, app: Flask) -> None:
        """Close the pooled connections of ``app``'s engine (tests, shutdown)."""
        self._bound(app).engine.dispose()


database = Database()
