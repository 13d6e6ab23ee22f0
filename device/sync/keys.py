"""What the agent must hold before it starts, checked up front so that a
device with a missing file stops at once with one clear line rather than
failing at its first message: the device's Ed25519 signing key, the server's
Ed25519 public key and, with TLS, the CA certificate and the client
certificate and key (loaded into an :class:`ssl.SSLContext`)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device.config import SyncSection
from device.errors import SyncKeyError
from device.protocol.errors import SignatureError
from device.protocol.signing import load_private, load_public


@dataclass(frozen=True)
class SyncKeys:
    """The keys of one agent: ``signing`` signs what the device sends,
    ``server`` checks what the server sends; ``tls`` is ``None`` for plain TCP."""

    signing: Ed25519PrivateKey
    server: Ed25519PublicKey
    tls: ssl.SSLContext | None


def _readable(path: Path, setting: str, hint: str) -> None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise SyncKeyError(f"[sync] {setting}: {path} does not exist ({hint})") from None
    except OSError as exc:
        raise SyncKeyError(f"[sync] {setting}: cannot read {path}: {exc.strerror or exc}") from exc


def tls_context(sync: SyncSection) -> ssl.SSLContext | None:
    """The TLS context of ``sync`` (``None`` without ``ca``): the broker
    checked against our CA and its name, TLS 1.2 at least, our client
    certificate presented.

    :raises SyncKeyError: naming the file that is missing, unreadable or not
        a certificate or key (or a key that does not match the certificate).
    """
    if sync.ca is None:
        return None
    assert sync.cert is not None and sync.key is not None  # the config loader makes sure
    _readable(sync.ca, "ca", "the sync CA certificate: ca.crt of citizencard pki init")
    _readable(sync.cert, "cert", "this device's certificate: citizencard pki client DIR DEVICE_ID")
    _readable(sync.key, "key", "this device's certificate key: citizencard pki client DIR DEVICE_ID")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(sync.ca))
    except (ssl.SSLError, ValueError) as exc:
        raise SyncKeyError(f"[sync] ca: {sync.ca} is not a PEM certificate: {exc}") from exc
    try:
        context.load_cert_chain(certfile=str(sync.cert), keyfile=str(sync.key))
    except (ssl.SSLError, ValueError) as exc:
        raise SyncKeyError(f"[sync] cert, key: {sync.cert} and {sync.key} are not a PEM certificate and its "
                           f"private key: {exc}") from exc
    return context


def load_keys(sync: SyncSection) -> SyncKeys:
    """Every key and certificate the agent of ``sync`` needs.

    :raises SyncKeyError: naming the ``[sync]`` key and the file, and what to do.
    """
    _readable(sync.signing_key, "signing_key", "write one with: citizencard keys sync --out PATH")
    try:
        signing = load_private(sync.signing_key)
    except SignatureError as exc:
        raise SyncKeyError(f"[sync] signing_key: {exc}") from exc
    _readable(sync.server_key, "server_key", "the server's public key, given by the back office")
    try:
        server = load_public(sync.server_key)
    except SignatureError as exc:
        raise SyncKeyError(f"[sync] server_key: {exc}") from exc
    return SyncKeys(signing=signing, server=server, tls=tls_context(sync))
