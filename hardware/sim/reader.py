"""A reader with a simulated card in its field, optionally backed by a dump file.

:class:`SimReader` implements :class:`card_layout.reader.ClassicReader` by
handing each command to a :class:`~hardware.sim.card.SimulatedCard`, whose
errors (the card layer's) pass through unchanged.

With a dump file, every command that changed the card's memory, a torn write
included, is followed by an atomic save of the whole image: the file is always
the card as it is, so it can be tapped again by another process, and a process
killed between two commands leaves it as the card would be.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from card_layout.access import KeyType
from card_layout.errors import CardRemovedError
from hardware.errors import MultipleCardsError, ReaderTimeoutError
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import load_dump, remove_stale_temporaries, save_dump
from hardware.sim.field import SimField

POLL_INTERVAL = 0.005


class SimReader:
    """A reader whose field holds ``card``.

    :param card: the simulated card; exposed as :attr:`card` for its log,
        presence and tear controls.
    :param dump_path: if given, the dump file written back after every command
        that changed the card's memory.
    """

    def __init__(self, card: SimulatedCard | None = None, dump_path: os.PathLike[str] | str | None = None, *,
                 field: SimField | None = None) -> None:
        if card is None and field is None:
            raise ValueError("a SimReader needs a card or a field")
        self.field = field if field is not None else SimField(card)  # type: ignore[arg-type]
        self.card = card if card is not None else (self.field.cards or (None,))[0]
        self.dump_path = None if dump_path is None else Path(dump_path)
        self._saved_writes = self.card.write_count if self.card is not None else 0

    # -- the field ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"sim:{self.dump_path}" if self.dump_path else "sim"

    def wait_for_card(self, timeout: float) -> bytes:
        """:raises ReaderTimeoutError, MultipleCardsError: see :class:`hardware.reader.Reader`."""
        deadline = time.monotonic() + timeout
        while True:
            cards = self.field.cards
            if len(cards) > 1:
                raise MultipleCardsError(f"{len(cards)} cards in the field: present one card only")
            if cards:
                try:
                    return self.uid()
                except CardRemovedError:
                    pass  # gone again before it could be selected: wait on, as the other readers do
            if time.monotonic() >= deadline:
                raise ReaderTimeoutError(f"no card in the field within {timeout:g} s")
            time.sleep(POLL_INTERVAL)

    def card_present(self) -> bool:
        return bool(self.field.cards)

    def wait_for_removal(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.field.cards:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    def close(self) -> None:
        """Nothing to release: the dump is saved after every change."""

    def __enter__(self) -> SimReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- card commands --------------------------------------------------------------

    @classmethod
    def from_dump(
        cls,
        path: os.PathLike[str] | str,
        tear_after: int | None = None,
        torn_bytes: int = 0,
        *,
        magic: bool = False,
        uid_size: int = 4,
    ) -> SimReader:
        """A reader over the card stored in ``path``, writing changes back to it.

        :raises DumpError: when the dump cannot be loaded.
        :raises ValueError: for bad tear parameters or ``uid_size``.
        """
        remove_stale_temporaries(path)
        card = SimulatedCard(
            load_dump(path), magic=magic, uid_size=uid_size, tear_after=tear_after, torn_bytes=torn_bytes
        )
        return cls(card, dump_path=path)

    def uid(self) -> bytes:
        """Select the card in the field.

        :raises CardError: as :meth:`SimulatedCard.uid`.
        :raises MultipleCardsError: when more than one card is in the field.
        """
        cards = self.field.cards
        if len(cards) > 1:
            raise MultipleCardsError(f"{len(cards)} cards in the field: present one card only")
        if cards and cards[0] is not self.card:
            self.card = cards[0]
            self._saved_writes = self.card.write_count
        if self.card is None:
            return self.field.single().uid()
        return self.card.uid()

    def authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        """:raises CardError: as :meth:`SimulatedCard.authenticate`."""
        self.card.authenticate(block, key_type, key)

    def read_block(self, block: int) -> bytes:
        """:raises CardError: as :meth:`SimulatedCard.read_block`."""
        return self.card.read_block(block)

    def write_block(self, block: int, data: bytes) -> None:
        """:raises CardError: as :meth:`SimulatedCard.write_block`.
        :raises DumpError: when the changed card cannot be saved to the dump."""
        try:
            self.card.write_block(block, data)
        finally:
            self._write_back()

    def increment(self, block: int, amount: int) -> None:
        """:raises CardError: as :meth:`SimulatedCard.increment`."""
        self.card.increment(block, amount)

    def decrement(self, block: int, amount: int) -> None:
        """:raises CardError: as :meth:`SimulatedCard.decrement`."""
        self.card.decrement(block, amount)

    def restore(self, block: int) -> None:
        """:raises CardError: as :meth:`SimulatedCard.restore`."""
        self.card.restore(block)

    def transfer(self, block: int) -> None:
        """:raises CardError: as :meth:`SimulatedCard.transfer`.
        :raises DumpError: when the changed card cannot be saved to the dump."""
        try:
            self.card.transfer(block)
        finally:
            self._write_back()

    def _write_back(self) -> None:
        # Only write_block and transfer change memory; a refused or fully torn
        # command leaves write_count alone and costs no file write.
        if self.dump_path is None or self.card.write_count == self._saved_writes:
            return
        save_dump(self.dump_path, self.card.image())
        self._saved_writes = self.card.write_count
