"""Where the ingest worker's broker is and how it proves who it is
(``[broker]`` of the server's configuration). The connection itself is the
same as the devices': :class:`device.sync.connection.MqttLink`."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from .errors import IngestError


@dataclass(frozen=True)
class BrokerSettings:
    """``ca`` empty: plain TCP (only for a broker on this machine);
    otherwise TLS with the client certificate ``cert``/``key`` (its common
    name, ``ingest``, is the MQTT username the ACL knows)."""

    host: str = "127.0.0.1"
    port: int = 1883
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


def tls_context(settings: BrokerSettings) -> ssl.SSLContext | None:
    """The TLS context of ``settings`` (``None`` for plain TCP): the broker
    checked against our CA and its name, TLS 1.2 at least, our certificate presented.

    :raises IngestError: naming the file that cannot be used.
    """
    if settings.ca is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(settings.ca))
        context.load_cert_chain(certfile=str(settings.cert), keyfile=str(settings.key))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise IngestError(f"[broker] ca, cert, key: {settings.ca}, {settings.cert}, {settings.key} cannot be "
                          f"used for TLS: {exc}") from exc
    return context
