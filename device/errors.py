"""The device layer's exception tree.

    DeviceError
    └── KeyStoreError (ValueError)   the key file is missing, unreadable, malformed or too open
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every error raised by the device layer."""


class KeyStoreError(DeviceError, ValueError):
    """The key file cannot be used; the message says why and what to do."""
