"""One codec at the edge: a message is a signed JSON envelope::

    {"v": 1, "type": "tx_batch", "signer": "device:1201", "body": {...}, "sig": "<base64>"}

The signature (Ed25519) covers the canonical JSON of the envelope without
``sig`` (keys sorted, no spaces, UTF-8), so any change to any byte of the
version, type, signer or body is detected. Decoding refuses, in this order and
before acting on anything: an oversized message, non-JSON, a wrong envelope,
an unknown version or type, an unknown signer, a bad signature, a body that
does not fit its schema.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import MalformedMessageError, OversizedMessageError, SignatureError, UnsupportedVersionError
from .messages import MESSAGE_TYPES, PROTOCOL_VERSION, Message, from_body, to_body
from .signing import SIGNATURE_SIZE, sign, verify

MAX_MESSAGE_BYTES = 256 * 1024
ENVELOPE_KEYS = frozenset({"v", "type", "signer", "body", "sig"})
SERVER_SIGNER = "server"


def device_signer(device_id: int) -> str:
    return f"device:{device_id}"


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(message: Message, key: Ed25519PrivateKey, signer: str) -> bytes:
    """The signed envelope of ``message``.

    :raises OversizedMessageError: when it would exceed :data:`MAX_MESSAGE_BYTES`
        (the sender splits its batch).
    """
    core = {"v": PROTOCOL_VERSION, "type": message.TYPE, "signer": signer, "body": to_body(message)}
    signature = sign(key, canonical(core))
    raw = canonical({**core, "sig": base64.b64encode(signature).decode()})
    if len(raw) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(f"a {message.TYPE} of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return raw


def decode(raw: bytes, public_key: Callable[[str], Ed25519PublicKey | None]) -> tuple[str, Message]:
    """The signer and the message of an envelope; ``public_key`` finds a signer's key.

    :raises ProtocolError: a subclass saying what is wrong.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(f"{len(raw)} bytes exceed {MAX_MESSAGE_BYTES}")
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessageError(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
        raise MalformedMessageError("not an envelope: expected exactly v, type, signer, body, sig")
    if envelope["v"] != PROTOCOL_VERSION:
        raise UnsupportedVersionError(f"protocol version {envelope['v']!r} (this software speaks {PROTOCOL_VERSION})")
    cls = MESSAGE_TYPES.get(envelope["type"]) if isinstance(envelope["type"], str) else None
    if cls is None:
        raise MalformedMessageError(f"unknown message type {envelope['type']!r:.40}")
    signer = envelope["signer"]
    key = public_key(signer) if isinstance(signer, str) else None
    if key is None:
        raise SignatureError(f"unknown signer {signer!r:.40}")
    try:
        signature = base64.b64decode(envelope["sig"], validate=True) if isinstance(envelope["sig"], str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"{signer}: the signature is not 64 bytes of base64")
    verify(key, signature, canonical({k: envelope[k] for k in ENVELOPE_KEYS - {"sig"}}))
    return signer, from_body(cls, envelope["body"])
