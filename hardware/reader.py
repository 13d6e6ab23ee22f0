"""What a reader device offers: a field in which a card is presented, plus the
card commands of :class:`card_layout.reader.ClassicReader` on the card in it.

Every backend (``sim:``, ``pcsc:``, ``pn532:``, ``nfcpy:``) returns a
:class:`Reader` from :func:`hardware.uri.open_reader`. Presence:

- :meth:`Reader.wait_for_card` returns the UID of the one card in the field,
  selecting it; with no card in ``timeout`` seconds it raises
  :class:`~hardware.errors.ReaderTimeoutError`, with two or more
  :class:`~hardware.errors.MultipleCardsError`;
- :meth:`Reader.card_present` asks, without waiting, whether a card is there;
- :meth:`Reader.wait_for_removal` returns ``True`` once the field is empty.

Every wait has a timeout; nothing here blocks for ever. A backend whose
service goes away (pcscd restarted, a serial adapter unplugged) raises
:class:`~hardware.errors.ReaderUnavailableError` meanwhile and works again by
itself when the service is back: callers retry, they do not reopen.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from card_layout.reader import ClassicReader


@runtime_checkable
class Reader(ClassicReader, Protocol):
    """A reader device with its field; see the module docstring."""

    @property
    def name(self) -> str:
        """A human name: the PC/SC reader name, the serial port, ``sim``."""
        ...

    def wait_for_card(self, timeout: float) -> bytes:
        """Wait for exactly one card and select it; its UID.

        :raises ReaderTimeoutError: when no card came in time.
        :raises MultipleCardsError: when more than one card is in the field.
        :raises ReaderUnavailableError: when the reader is gone.
        """
        ...

    def card_present(self) -> bool:
        """Whether a card is in the field now (no waiting beyond one poll)."""
        ...

    def wait_for_removal(self, timeout: float) -> bool:
        """Wait until the field is empty; ``False`` when the card is still there at the timeout."""
        ...

    def close(self) -> None:
        """Release the device (port, PC/SC context). Idempotent."""
        ...
