"""The RF field of a simulated reader: the simulated cards placed in it.

One field is shared by the ``sim:`` reader and by the PC/SC and PN532
emulators, so a test places, removes or tears cards the same way whatever the
backend under test. A card is in the field while it is present
(:attr:`SimulatedCard.present`): a tear (``tear_after``) takes it out as a
rider pulling the card away would.
"""

from __future__ import annotations

import threading

from card_layout.errors import CardRemovedError
from hardware.errors import MultipleCardsError
from hardware.sim.card import SimulatedCard


class SimField:
    def __init__(self, *cards: SimulatedCard) -> None:
        self._lock = threading.Lock()
        self._cards: list[SimulatedCard] = list(cards)

    @property
    def cards(self) -> tuple[SimulatedCard, ...]:
        """The cards in the field now."""
        with self._lock:
            return tuple(card for card in self._cards if card.present)

    def place(self, card: SimulatedCard) -> SimulatedCard:
        """Present ``card`` (again): it powers up, unauthenticated."""
        with self._lock:
            if card not in self._cards:
                self._cards.append(card)
        card.insert()
        return card

    def take(self, card: SimulatedCard | None = None) -> None:
        """Take ``card`` (by default every card) out of the field."""
        with self._lock:
            for present in self._cards:
                if card is None or present is card:
                    present.remove()

    def single(self) -> SimulatedCard:
        """The one card in the field.

        :raises CardRemovedError: when there is none.
        :raises MultipleCardsError: when there are several.
        """
        cards = self.cards
        if not cards:
            raise CardRemovedError("no card in the field")
        if len(cards) > 1:
            raise MultipleCardsError(f"{len(cards)} cards in the field: present one card only")
        return cards[0]
