"""The back office's web application (Flask): the REST API under
``/api/v1`` with its OpenAPI description and token auth with roles.

Run it with ``CITIZENCARD_SERVER_CONFIG=/etc/citizencard/server.toml`` and
``flask --app sync_server.web run`` (or any WSGI server on
``sync_server.web:create_app()``); it uses the configuration's ``[server]
database``, migrated to the current schema at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ..config import load_server_config
from ..errors import ServerConfigError
from .api import bp as api_blueprint
from .errors import register_error_handlers
from .extensions import database
from .openapi import bp as openapi_blueprint

CONFIG_ENV = "CITIZENCARD_SERVER_CONFIG"
"""The environment variable naming the server's TOML file."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The application. Without ``test_config`` its settings come from the
    server.toml that ``CITIZENCARD_SERVER_CONFIG`` names; with it, from
    ``test_config`` only (``DATABASE``: a SQLAlchemy URL; ``CLOCK``: a clock
    for the store; any Flask setting).

    :raises ServerConfigError: without a configuration, or with one that cannot be used.
    :raises SyncServerError: when the database cannot be migrated.
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config is None:
        path = os.environ.get(CONFIG_ENV, "").strip()
        if not path:
            raise ServerConfigError(f"set {CONFIG_ENV} to the server's TOML file (citizencard server init)")
        config = load_server_config(path)
        app.config.update(DATABASE=config.database, SERVER_CONFIG=config)
    else:
        app.config.from_mapping(test_config)
    database.init_app(app)
    register_error_handlers(app)
    for blueprint in (api_blueprint, openapi_blueprint):
        app.register_blueprint(blueprint)
    return app
