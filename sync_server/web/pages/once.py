"""One-time form keys for the staff pages' forms that move money (a top-up
at the desk, a tourist card sold with a balance): the page puts a new key in
the form; the action runs at most once per key (:func:`..idempotency.run_once`,
with the API's idempotency keys), so a double click or a reload that posts
again does it once."""

from __future__ import annotations

import secrets

from .fields import Fields

PREFIX = "staff-page:"
"""Keeps the forms' keys apart from the keys API clients choose."""
KEY_MAX = 64


def new_key() -> str:
    """A key for a form about to be shown."""
    return secrets.token_urlsafe(24)


def form_key(fields: Fields, error_field: str) -> str | None:
    """The form's key (``form_key``), as stored; ``None`` with a message on
    ``error_field`` when it is missing or malformed (a form from elsewhere)."""
    key = fields.raw("form_key")
    if not key or len(key) > KEY_MAX or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key):
        fields.errors[error_field] = "The form has expired: open the page again."
        return None
    return PREFIX + key
