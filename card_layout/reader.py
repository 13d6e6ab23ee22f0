"""The reader protocol the card operations are written against.

A reader backend (``hardware.sim``, PC/SC, PN532, nfcpy) gives a card in the
field as an object with these methods, each one card command (one RF round
trip). Backends raise the card layer's errors, converted from their own at
their boundary:

- :class:`~card_layout.errors.AuthenticationError` when a key is refused;
- :class:`~card_layout.errors.CardAccessError` when the access bits forbid an
  operation with the key the sector was authenticated with, or no sector is
  authenticated;
- :class:`~card_layout.errors.CardCommandError` when the chip refuses a command
  for another reason (a value operation on a block not in value format);
- :class:`~card_layout.errors.CardRemovedError` when the card left the field;
  the command in flight may or may not have reached the card's memory, and a
  write may have been torn half-way.

A refused command leaves the chip idle, as on a real card: the caller must
select it again (``uid()``) and authenticate before its next command.

Value operations follow the chip: ``increment``, ``decrement`` and ``restore``
load a value block into the chip's transfer buffer (and change it); only
``transfer`` writes the buffer into a block of the authenticated sector.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .access import KeyType


@runtime_checkable
class ClassicReader(Protocol):
    """A MIFARE Classic card in the field, one method per card command."""

    def uid(self) -> bytes:
        """Select the card in the field and return its UID (4 or 7 bytes)."""
        ...

    def authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        """Authenticate the sector of ``block`` with a 6-byte key."""
        ...

    def read_block(self, block: int) -> bytes:
        """Read 16 bytes."""
        ...

    def write_block(self, block: int, data: bytes) -> None:
        """Write 16 bytes."""
        ...

    def increment(self, block: int, amount: int) -> None:
        """Load value block ``block`` plus ``amount`` (>= 0) into the transfer buffer."""
        ...

    def decrement(self, block: int, amount: int) -> None:
        """Load value block ``block`` minus ``amount`` (>= 0) into the transfer buffer."""
        ...

    def restore(self, block: int) -> None:
        """Load value block ``block`` unchanged into the transfer buffer."""
        ...

    def transfer(self, block: int) -> None:
        """Write the transfer buffer into ``block``."""
        ...
