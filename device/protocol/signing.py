"""Ed25519 keys for signing messages: each device signs what it sends up with
its own key; the server signs acknowledgements and lists with the server key.
Keys are stored as PEM (private: PKCS#8, mode 0600; public: SubjectPublicKeyInfo)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SignatureError

SIGNATURE_SIZE = 64


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key (what the server's device registry stores)."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """:raises SignatureError: when ``raw`` is not a 32-byte Ed25519 public key."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SignatureError(f"not an Ed25519 public key: {exc}") from exc


def _write_new(target: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a file that must not exist yet, with ``mode`` from its creation on.

    :raises FileExistsError: when ``target`` exists.
    """
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return target


def save_private(path: os.PathLike[str] | str, key: Ed25519PrivateKey) -> Path:
    """Write a private key, readable by its owner only from the first byte on."""
    target = Path(path)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return _write_new(target, pem, 0o600)


def load_private(path: os.PathLike[str] | str) -> Ed25519PrivateKey:
    """:raises SignatureError: when the file is not an Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not a readable Ed25519 private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 key")
    return key


def save_public(path: os.PathLike[str] | str, key: Ed25519PublicKey | Ed25519PrivateKey) -> Path:
    """Write the public key (of ``key``, when given a private key) as PEM
    (SubjectPublicKeyInfo); refuses to overwrite an existing file.

    :raises FileExistsError: when ``path`` exists.
    """
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    target = Path(path)
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _write_new(target, pem, 0o644)


def load_public(path: os.PathLike[str] | str) -> Ed25519PublicKey:
    """:raises SignatureError: when the file is not an Ed25519 public key (PEM)."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not a readable Ed25519 public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(key: Ed25519PublicKey, signature: bytes, data: bytes) -> None:
    """:raises SignatureError: when the signature does not verify."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise SignatureError("the signature does not verify") from None
