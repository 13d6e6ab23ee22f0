"""One codec at the edge: a message is a signed JSON envelope::

    {"v": 1, "type": "tx_batch", "signer": "device:1201", "body": {...}, "sig": "<base64>"}

The signature (Ed25519) covers the canonical JSON of the envelope without
``sig`` (keys sorted, no spaces, UTF-8), so any change to any byte of the
version, type, signer or body is detected. A message travels in that same
canonical form, ``sig`` in its sorted place, so the signed bytes are the
message's own bytes without the ``"sig"`` member: the receiver cuts it out
and checks them as they came, without serialising the body again (ingest
reads tens of thousands of entries a second; a sender that does not write
the canonical form is refused). Decoding refuses, in this order and before
acting on anything: an oversized message, non-JSON, a wrong envelope, an
unknown version or type, an unknown signer, a bad signature, a body that
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
SIGNED_KEYS = frozenset({"v", "type", "signer", "body"})
SIG_MARK = b',"sig":"'
SERVER_SIGNER = "server"


def device_signer(device_id: int) -> str:
    return f"device:{device_id}"


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(message: Message, key: Ed25519PrivateKey, signer: str) -> bytes:
    """The signed envelope of ``message``, in canonical form.

    :raises OversizedMessageError: when it would exceed :data:`MAX_MESSAGE_BYTES`
        (the sender splits its batch).
    """
    # canonical({"body", "signer", "type", "v"}) written out around one serialisation of the body
    body = canonical(to_body(message))
    tail = canonical({"signer": signer, "type": message.TYPE, "v": PROTOCOL_VERSION})[1:]
    signature = base64.b64encode(sign(key, b'{"body":' + body + b"," + tail)).decode()
    raw = b'{"body":' + body + b',"sig":"' + signature.encode() + b'",' + tail
    if len(raw) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(f"a {message.TYPE} of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return raw


def _split_signature(raw: bytes) -> tuple[bytes, bytes] | None:
    """``(signed bytes, signature text)`` of a canonical envelope, or ``None``
    when there is no ``"sig"`` member where the canonical form puts it: the
    last ``,"sig":"`` (nothing after the body can hold one, and inside the
    body a quote is escaped)."""
    start = raw.rfind(SIG_MARK)
    if start < 0:
        return None
    end = raw.find(b'"', start + len(SIG_MARK))
    if end < 0:
        return None
    return raw[:start] + raw[end + 1:], raw[start + len(SIG_MARK):end]


def decode(raw: bytes, public_key: Callable[[str], Ed25519PublicKey | None]) -> tuple[str, Message]:
    """The signer and the message of an envelope; ``public_key`` finds a signer's key.

    :raises ProtocolError: a subclass saying what is wrong.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise OversizedMessageError(f"{len(raw)} bytes exceed {MAX_MESSAGE_BYTES}")
    split = _split_signature(raw)
    signed, signature_text = split if split is not None else (raw, b"")
    try:
        envelope = json.loads(signed)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessageError(f"not JSON: {exc}") from exc
    if split is None or not isinstance(envelope, dict) or set(envelope) != SIGNED_KEYS:
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
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"{signer}: the signature is not 64 bytes of base64")
    verify(key, signature, signed)
    return signer, from_body(cls, envelope["body"])
