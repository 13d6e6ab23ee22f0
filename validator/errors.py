"""The validator's exception tree.

    ValidatorError
    └── FareTableError (ValueError)   a fare table that does not make sense; the message names the key
"""

from __future__ import annotations


class ValidatorError(Exception):
    """Base of every error raised by :mod:`validator`."""


class FareTableError(ValidatorError, ValueError):
    """A fare table with a missing, unknown or out-of-range entry."""
