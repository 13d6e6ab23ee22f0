"""Setting up a sync server in a directory: its configuration file, its
signing key and its database (``citizencard server init`` and the
one-machine city use this)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from device.protocol import signing

from .config import ServerConfig, load_server_config
from .db.engine import create_engine
from .db.migrate import upgrade
from .errors import ServerConfigError
from .store import SyncStore

CONFIG_FILENAME = "server.toml"
KEY_FILENAME = "server.key"
PUBLIC_KEY_FILENAME = "server.pub"


def init_server(directory: Path, *, database: str = "sqlite:///server.sqlite3", broker_host: str = "127.0.0.1",
                broker_port: int = 8883, pki: Path | None = None, list_poll: float = 0.2) -> Path:
    """Write ``server.toml`` and a new signing key (``server.key`` mode 0600,
    ``server.pub``) in ``directory`` and create the database; the path of the
    config file. With ``pki`` (a ``citizencard pki`` directory) the worker
    connects with TLS as ``ingest``; without, plain TCP to this machine.

    :raises ServerConfigError: when ``directory`` already holds a server.
    :raises SyncServerError: when the database cannot be created.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / CONFIG_FILENAME
    if config_path.exists() or (directory / KEY_FILENAME).exists():
        raise ServerConfigError(f"{directory} holds a server already; not overwriting its config or key")
    key = signing.generate()
    signing.save_private(directory / KEY_FILENAME, key)
    signing.save_public(directory / PUBLIC_KEY_FILENAME, key.public_key())
    broker = [f"host = {json.dumps(broker_host)}", f"port = {broker_port}"]
    if pki is not None:
        pki = pki.absolute()
        broker += [f"ca = {json.dumps(str(pki / 'ca.crt'))}", f"cert = {json.dumps(str(pki / 'ingest.crt'))}",
                   f"key = {json.dumps(str(pki / 'ingest.key'))}"]
    config_path.write_text("\n".join([
        "# citizencard sync server: every key is described in docs/configuration.md.",
        "[server]", f"database = {json.dumps(database)}", f'signing_key = "{KEY_FILENAME}"',
        'issuer_keys = "issuer.keys"', "", "[broker]", *broker, "", "[ingest]", f"list_poll = {list_poll}", "",
    ]))
    with open_store(load_server_config(config_path)):
        pass
    return config_path


@contextmanager
def open_store(config: ServerConfig, *, migrate: bool = True) -> Iterator[SyncStore]:
    """The store of ``config``'s database, migrated to the current schema first."""
    engine = create_engine(config.database)
    try:
        if migrate:
            upgrade(engine)
        yield SyncStore(engine)
    finally:
        engine.dispose()
