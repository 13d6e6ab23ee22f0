"""The protocol's exception tree. A receiver counts and logs each, ingests
nothing from the message, and keeps running.

    ProtocolError (ValueError)
    ├── OversizedMessageError   larger than MAX_MESSAGE_BYTES, refused before parsing
    ├── MalformedMessageError   not JSON, not an envelope, or a body that does not fit its schema
    ├── UnsupportedVersionError a protocol version this software does not speak
    └── SignatureError          the signature does not verify, or the signer is unknown
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every protocol error; the message says what and where."""


class OversizedMessageError(ProtocolError):
    """A message larger than the protocol allows."""


class MalformedMessageError(ProtocolError):
    """Not JSON, not an envelope, or a body that does not fit its schema."""


class UnsupportedVersionError(ProtocolError):
    """A protocol version this software does not speak."""


class SignatureError(ProtocolError):
    """A signature that does not verify, or a signer nobody knows."""
