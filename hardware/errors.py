"""The hardware layer's exception tree: failures of a reader, a URI or a dump
file, never of the card itself.

    HardwareError
    ├── ReaderUriError (ValueError)     a reader URI that names no known backend or is malformed
    ├── DumpError                       a card dump file missing, unreadable or of the wrong size
    ├── ReaderUnavailableError          no such reader, or its service is down (pcscd, a serial port)
    ├── ReaderTimeoutError (TimeoutError) the reader did not answer in time, or no card came in time
    ├── ReaderProtocolError             the reader answered something we cannot parse (bad frame,
    │                                   checksum, unexpected response); the raw bytes are in the message
    └── MultipleCardsError              more than one card in the field: the rider must present one

What a card in the field refuses is not a hardware error: reader backends raise
the card layer's errors (:mod:`card_layout.errors`: ``AuthenticationError``,
``CardAccessError``, ``CardCommandError``, ``CardRemovedError``), with the
sector and block set, as :mod:`card_layout.reader` requires.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Base of every error raised by :mod:`hardware` about hardware, URIs or files."""


class ReaderUriError(HardwareError, ValueError):
    """A reader URI with an unknown scheme, no target, or a bad parameter."""


class DumpError(HardwareError):
    """A card dump file that cannot be loaded or saved; an ``OSError`` behind it
    is kept as ``__cause__``."""


class ReaderUnavailableError(HardwareError):
    """The reader is not there or cannot be used now: pcscd not running, the
    named reader or serial port missing, the device unplugged. Reader objects
    recover by themselves once it is back; the cause is kept."""


class ReaderTimeoutError(HardwareError, TimeoutError):
    """The reader did not answer within its timeout, or no card came to the
    field in the time asked for."""


class ReaderProtocolError(HardwareError):
    """The reader answered with bytes we cannot make sense of: a frame with a
    bad checksum, a NACK, an answer to another command, garbage on the line."""


class MultipleCardsError(HardwareError):
    """More than one card is in the field. Refused rather than guessing which
    card the rider meant to pay with."""
