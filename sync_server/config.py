"""The server's configuration: one TOML file, every key overridable from the
environment as ``CITIZENCARD_<TABLE>_<KEY>`` (``CITIZENCARD_SERVER_DATABASE``),
checked in full at start. Described in docs/configuration.md::

    [server]
    database = "sqlite:///server.sqlite3"   # SQLAlchemy URL; postgresql+psycopg://... for PostgreSQL
    signing_key = "server.key"              # Ed25519 key signing acks and lists
    issuer_keys = "issuer.keys"             # card master keys: the purse key B sent with a top-up

    [broker]
    host = "127.0.0.1"
    port = 8883
    ca = "pki/ca.crt"                       # empty: plain TCP, only to a broker on this machine
    cert = "pki/ingest.crt"
    key = "pki/ingest.key"

    [ingest]
    client_id = ""                          # empty: ingest-<host>-<pid>
    group = 64                              # messages committed in one database transaction
    list_poll = 0.2                         # seconds between checks for list changes to broadcast

    [reconciliation]
    auto_block = ["counter_back", "balance_above_shadow", "repeated_counter", "integrity_failures",
                  "replaced_card_used"]
                                            # anomaly kinds whose card is blocked at once ([]: none)
    integrity_failures = 3                  # integrity-failure denials of one card before it is flagged

    [web]
    session_idle_minutes = 30               # a staff page session unused this long ends
    session_lifetime_hours = 12             # and any session ends this long after sign-in
    secure_cookies = false                  # true behind HTTPS: the session cookie is sent over TLS only

Relative paths, and the file of a relative ``sqlite:///`` URL, are relative
to the directory of the config file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .db.models import ANOMALY_KINDS
from .errors import ServerConfigError
from .mqtt import BrokerSettings
from .reconciliation import Policy

ENV_PREFIX = "CITIZENCARD_"

# table -> key -> (kind, default); kind names the check and what the docs call the type.
SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "server": {"database": ("database URL", "sqlite:///server.sqlite3"), "signing_key": ("path", "server.key"),
               "issuer_keys": ("path", "issuer.keys")},
    "broker": {"host": ("string", "127.0.0.1"), "port": ("port", 8883), "ca": ("optional path", ""),
               "cert": ("optional path", ""), "key": ("optional path", "")},
    "ingest": {"client_id": ("optional string", ""), "group": ("group", 64), "list_poll": ("seconds", 0.2)},
    "reconciliation": {"auto_block": ("anomaly kinds", list(ANOMALY_KINDS)), "integrity_failures": ("count", 3)},
    "web": {"session_idle_minutes": ("count", 30), "session_lifetime_hours": ("count", 12),
            "secure_cookies": ("flag", False)},
}


@dataclass(frozen=True)
class WebSettings:
    """The staff pages' sessions: idle and absolute limits; ``secure_cookies``
    behind HTTPS (a TLS-terminating proxy in front of the app)."""

    session_idle_minutes: int
    session_lifetime_hours: int
    secure_cookies: bool

    def flask_config(self) -> dict[str, object]:
        """The Flask settings of :mod:`sync_server.web.pages` these stand for."""
        return {"STAFF_SESSION_IDLE_MINUTES": self.session_idle_minutes,
                "STAFF_SESSION_LIFETIME_HOURS": self.session_lifetime_hours,
                "STAFF_SECURE_COOKIES": self.secure_cookies}


@dataclass(frozen=True)
class ServerConfig:
    database: str
    signing_key: Path
    issuer_keys: Path
    broker: BrokerSettings
    client_id: str
    group: int
    list_poll: float
    policy: Policy
    web: WebSettings
    source: Path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _database(url: str, base: Path) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and not relative.startswith(":memory:"):
            return f"sqlite:///{base / relative}"
    return url


class _Checker:
    def __init__(self, source: Path) -> None:
        self.source = source
        self.base = source.absolute().parent

    def fail(self, where: str, message: str) -> ServerConfigError:
        return ServerConfigError(f"{self.source}: {where}: {message}")

    def value(self, table: str, key: str, kind: str, value: Any) -> Any:
        where = f"[{table}] {key}"
        if kind in ("port", "group"):
            high = 65535 if kind == "port" else 10_000
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise self.fail(where, f"{value!r} is not an integer in 1..{high}")
            return value
        if kind == "flag":
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")  # from the environment
            if not isinstance(value, bool):
                raise self.fail(where, f"{value!r} is not true or false")
            return value
        if kind == "count":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise self.fail(where, f"{value!r} is not an integer in 1..1000")
            return value
        if kind == "anomaly kinds":
            if isinstance(value, str):  # from the environment: comma-separated
                value = [part.strip() for part in value.split(",") if part.strip()]
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.fail(where, f"{value!r} is not a list of anomaly kinds")
            unknown = sorted(set(value) - set(ANOMALY_KINDS))
            if unknown:
                raise self.fail(where, f"unknown anomaly kinds {unknown} (known: {', '.join(ANOMALY_KINDS)})")
            return frozenset(value)
        if kind == "seconds":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or not 0 < value <= 600:
                raise self.fail(where, f"{value!r} is not a number of seconds in (0, 600]")
            return float(value)
        if not isinstance(value, str):
            raise self.fail(where, f"{value!r} is not a string")
        if kind.startswith("optional"):
            if not value.strip():
                return None
            kind = kind.removeprefix("optional ")
        if not value.strip():
            raise self.fail(where, "must not be empty")
        if kind == "path":
            return self.base / value
        if kind == "database URL":
            if "://" not in value:
                raise self.fail(where, f"{value!r} is not a database URL (sqlite:///file or postgresql+psycopg://...)")
            return _database(value, self.base)
        return value


def load_server_config(path: os.PathLike[str] | str, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Read and check the server configuration at ``path`` with the
    environment's overrides (``os.environ`` when ``None``).

    :raises ServerConfigError: naming the file, table and key at fault.
    """
    source = Path(path)
    checker = _Checker(source)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServerConfigError(f"{source}: config file not found (write one with 'citizencard server init')") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerConfigError(f"{source}: cannot read the config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ServerConfigError(f"{source}: not valid TOML: {exc}") from exc
    for table, content in raw.items():
        if table not in SCHEMA:
            raise checker.fail(f"[{table}]", f"unknown table (known: {', '.join(SCHEMA)})")
        if not isinstance(content, dict):
            raise checker.fail(f"[{table}]", "must be a table")
        for key in content:
            if key not in SCHEMA[table]:
                raise checker.fail(f"[{table}] {key}", f"unknown key (known: {', '.join(SCHEMA[table])})")
    environ = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {}
    for table, keys in SCHEMA.items():
        values[table] = {}
        for key, (kind, default) in keys.items():
            value = raw.get(table, {}).get(key, default)
            variable = f"{ENV_PREFIX}{table}_{key}".upper()
            if environ.get(variable, "").strip():
                text = environ[variable]
                try:
                    value = {"port": int, "group": int, "count": int, "seconds": float}.get(kind, str)(text)
                except ValueError:
                    raise checker.fail(f"{variable}", f"{text!r} is not a {kind}") from None
            values[table][key] = checker.value(table, key, kind, value)
    broker = values["broker"]
    if broker["ca"] is None and not _is_loopback(broker["host"]):
        raise checker.fail("[broker] ca", f"plain TCP to {broker['host']} would send card data in clear: "
                                          "give the CA and the ingest certificate (citizencard pki)")
    if broker["ca"] is not None and (broker["cert"] is None or broker["key"] is None):
        raise checker.fail("[broker] cert", "TLS needs the ingest worker's certificate and key")
    ingest = values["ingest"]
    return ServerConfig(
        database=values["server"]["database"],
        signing_key=values["server"]["signing_key"],
        issuer_keys=values["server"]["issuer_keys"],
        broker=BrokerSettings(host=broker["host"], port=broker["port"], ca=broker["ca"], cert=broker["cert"],
                              key=broker["key"]),
        client_id=ingest["client_id"] or f"ingest-{socket.gethostname()}-{os.getpid()}",
        group=ingest["group"],
        list_poll=ingest["list_poll"],
        policy=Policy(auto_block=values["reconciliation"]["auto_block"],
                      integrity_failures=values["reconciliation"]["integrity_failures"]),
        web=WebSettings(**values["web"]),
        source=source,
    )
