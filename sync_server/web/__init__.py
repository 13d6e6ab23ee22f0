"""The back office's web application (Flask): the REST API under
``/api/v1`` with its OpenAPI description and token auth with roles, and the
staff pages under ``/staff``.

Run it with ``citizencard server web --config server.toml`` (waitress), or
any WSGI server on ``sync_server.web:create_app()`` with
``CITIZENCARD_SERVER_CONFIG`` naming the server.toml; it uses the
configuration's ``[server] database``, migrated to the current schema at
start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ..config import load_server_config
from ..errors import ServerConfigError
from .anomalies import bp as anomalies_blueprint
from .api import bp as api_blueprint
from .applications import bp as applications_blueprint
from .cards import bp as cards_blueprint
from .errors import register_error_handlers
from .extensions import database
from .holders import bp as holders_blueprint
from .loads import bp as loads_blueprint
from .openapi import bp as openapi_blueprint
from .operators import bp as operators_blueprint
from .pages import bp as pages_blueprint
from .reports import bp as reports_blueprint
from .settlements import bp as settlements_blueprint
from .transactions import bp as transactions_blueprint

CONFIG_ENV = "CITIZENCARD_SERVER_CONFIG"
"""The environment variable naming the server's TOML file."""


def create_app(test_config: Mapping[str, Any] | None = None, *, config_path: os.PathLike[str] | str | None = None
               ) -> Flask:
    """The application. Without ``test_config`` its settings come from the
    server.toml at ``config_path``, or else the one ``CITIZENCARD_SERVER_CONFIG``
    names; with it, from
    ``test_config`` only (``DATABASE``: a SQLAlchemy URL; ``ISSUER_KEYS``: the
    issuer key file top-ups are derived from; ``CLOCK``: a clock
    for the store; any Flask setting).

    :raises ServerConfigError: without a configuration, or with one that cannot be used.
    :raises SyncServerError: when the database cannot be migrated.
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config is None:
        path = str(config_path or os.environ.get(CONFIG_ENV, "")).strip()
        if not path:
            raise ServerConfigError(f"set {CONFIG_ENV} to the server's TOML file (citizencard server init)")
        config = load_server_config(path)
        app.config.update(DATABASE=config.database, ISSUER_KEYS=config.issuer_keys, SERVER_CONFIG=config,
                          **config.web.flask_config())
    else:
        app.config.from_mapping(test_config)
    database.init_app(app)
    register_error_handlers(app)
    for blueprint in (api_blueprint, openapi_blueprint, loads_blueprint, anomalies_blueprint, pages_blueprint,
                      transactions_blueprint, operators_blueprint, reports_blueprint, settlements_blueprint,
                      holders_blueprint, cards_blueprint, applications_blueprint):
        app.register_blueprint(blueprint)
    return app
