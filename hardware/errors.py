"""The hardware layer's exception tree: failures of a reader, a URI or a dump
file, never of the card itself.

    HardwareError
    ├── ReaderUriError (ValueError)   a reader URI that names no known backend or is malformed
    └── DumpError                     a card dump file missing, unreadable or of the wrong size

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
