"""The demo's card population, issued as a city issues cards: a holder
registered at the card office (tourist cards have none), an application
submitted and approved, the registry's issuance point choosing the card, and
a blank simulated card personalised with exactly what the registry answered
(card number, kind, fare profile, dates, balance, contracts), saved as a dump
(``card-NNNN.mfd``). Bike and EV subscriptions are sold with the card and
recorded in the registry, so a duplicate takes them over.

Holder cards are issued with no money (the registry's rule); their holders
top them up at the office when they collect the card, through the load
orders every device receives (:class:`CardOffice.top_up`)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from card_layout.access import KeyType
from card_layout.keys import MasterKeys
from card_layout.layout import PURSE_SECTOR
from card_layout.operations.personalise import Issuance, personalise
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import CardKind, FareProfile, Identity
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.reader import SimReader
from sync_server.audit import Actor
from sync_server.db.models import FARE_PROFILES
from sync_server.loads import LoadOrder, LoadOrders
from sync_server.registry import Registry, applications, contracts, holders, issuance, states
from sync_server.registry.base import add_years
from sync_server.registry.issuance import Personalisation

CITY = "ESGIJ"
"""The issuing city (UN/LOCODE) written on the cards."""
CONTRACT_OPERATOR, CONTRACT_PRODUCT = 1, 1
"""Who runs the bike and EV services the subscriptions are for, and the product sold."""
TOURIST_PREPAID = 1000
"""Cents a tourist card is sold with."""

FIRST_NAMES = ("Ana", "Luis", "Marta", "Pablo", "Lucía", "Javier", "Carmen", "Diego", "Elena", "Sergio", "Nuria",
               "Andrés", "Irene", "Óscar", "Rocío", "Tomás")
SURNAMES = ("García", "Fernández", "Álvarez", "Suárez", "Menéndez", "Rodríguez", "González", "Díaz", "Martínez",
            "Iglesias", "Sánchez", "Prieto")


@dataclass
class Rider:
    """A card in a rider's pocket: the chip, its dump, and what the registry issued it as."""

    index: int
    chip: SimulatedCard
    dump: Path
    number: int
    uid: bytes
    kind: str
    profile: str
    holder_id: int | None
    issued_cents: int
    contracts: tuple[str, ...]
    replaced: bool = False
    replaces: int | None = None
    """The index of the rider's card this one replaced (a duplicate)."""

    def label(self) -> str:
        return f"card {self.index:04d}"

    def describe(self) -> str:
        contracts = f", {' and '.join(self.contracts)} contract" if self.contracts else ""
        holder = "no holder" if self.holder_id is None else f"holder {self.holder_id}"
        return f"{self.label()} = {self.number} ({self.kind}, {self.profile}, {holder}{contracts})"


@dataclass(frozen=True)
class Plan:
    """What card ``index`` of the population is: its kind, profile and the subscriptions sold with it."""

    kind: str
    profile: str
    contracts: tuple[ContractKind, ...] = ()


def population(count: int, rng: random.Random, fixed: dict[int, Plan]) -> list[Plan]:
    """``count`` cards: ``fixed`` ones as given (the story's riders), two
    tourist cards (the last two, from six cards on), the others citizens
    (one in six a company card) of mixed fare profiles, a third of the
    citizens with a bike subscription."""
    plans = []
    for index in range(count):
        if index in fixed:
            plans.append(fixed[index])
        elif count >= 6 and index >= count - 2:
            plans.append(Plan("tourist", "general"))
        elif rng.random() < 1 / 6:
            plans.append(Plan("company", "general", (ContractKind.EV_CHARGING,) if rng.random() < 0.5 else ()))
        else:
            bike = (ContractKind.BIKE,) if rng.random() < 1 / 3 else ()
            plans.append(Plan("citizen", rng.choice(FARE_PROFILES), bike))
    return plans


class CardOffice:
    """The card office and issuance point of the demo, acting as ``actor``
    on ``registry``; cards are personalised with the ``issuer``'s keys and
    their dumps kept in ``workdir``."""

    def __init__(self, registry: Registry, actor: Actor, issuer: MasterKeys, workdir: Path,
                 rng: random.Random) -> None:
        self.registry = registry
        self.actor = actor
        self.issuer = issuer
        self.workdir = workdir
        self.rng = rng
        self.loads = LoadOrders(registry.store, self.purse_key, registry.now)

    def purse_key(self, uid: bytes) -> bytes:
        """The card's diversified purse key B, which a top-up carries."""
        return self.issuer.for_card(uid).sector_key(PURSE_SECTOR, KeyType.B)

    def issue(self, index: int, plan: Plan) -> Rider:
        """Register the holder (but for a tourist card), submit and approve
        the application, issue it to a new blank, sell the plan's
        subscriptions and personalise the blank.

        :raises SyncServerError: when the registry refuses or the database fails.
        """
        holder_id = None
        if plan.kind != "tourist":
            person = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)} {self.rng.choice(SURNAMES)}"
            name = f"{person} S.L." if plan.kind == "company" else person
            birth = dt.date(self.rng.randint(1940, 2012), self.rng.randint(1, 12), self.rng.randint(1, 28))
            holder_id = holders.create(self.registry, self.actor, name=name, document_id=f"DEMO{index:06d}",
                                       birth_date=None if plan.kind == "company" else birth,
                                       email=f"rider{index}@example.org").id
        application = applications.submit(
            self.registry, self.actor, kind="tourist" if plan.kind == "tourist" else "new", holder_id=holder_id,
            card_kind=None if plan.kind == "tourist" else plan.kind, profile=plan.profile,
            balance_cents=TOURIST_PREPAID if plan.kind == "tourist" else 0)
        return self._issue(index, application.id, plan.contracts)

    def duplicate(self, lost: Rider, application_id: int, index: int) -> Rider:
        """Approve the duplicate application ``application_id`` of ``lost``'s
        card and issue it to a new blank: the registry moves the old card's
        balance (its shadow and its uncollected top-ups) and contracts to it.

        :raises SyncServerError: when the registry refuses or the database fails.
        """
        rider = self._issue(index, application_id, ())
        rider.replaces = lost.index
        lost.replaced = True
        return rider

    def _issue(self, index: int, application_id: int, subscriptions: tuple[ContractKind, ...]) -> Rider:
        applications.approve(self.registry, self.actor, application_id)
        uid = self._new_uid()
        chip = SimulatedCard.blank(uid)
        answer, _ = issuance.issue(self.registry, self.actor, application_id, uid)
        if subscriptions:
            self._sell(answer, subscriptions)
            # the issuance point asked again: the same card, now with the subscriptions sold with it
            answer, _ = issuance.issue(self.registry, self.actor, application_id, uid)
        identity = Identity(answer.card_number, CITY, CardKind[answer.kind.upper()],
                            FareProfile[answer.profile.upper()], answer.issued_on, answer.expires_on,
                            answer.holder_id or 0)
        on_card = tuple(Contract(ContractKind[c.kind.upper()], c.valid_from, c.valid_until, c.operator, c.product)
                        for c in answer.contracts)
        personalise(SimReader(chip), self.issuer, Issuance(identity, answer.balance_cents, on_card,
                                                          issued_at=self.registry.now()))
        dump = self.workdir / f"card-{index:04d}.mfd"
        save_dump(dump, chip.image())
        return Rider(index, chip, dump, answer.card_number, uid, answer.kind, answer.profile, answer.holder_id,
                     answer.balance_cents, tuple(c.kind for c in answer.contracts))

    def _new_uid(self) -> bytes:
        while True:
            uid = self.rng.randbytes(4)
            if uid[0] != 0x88 and uid != bytes(4):  # 0x88 is the cascade tag of a 7-byte UID
                return uid

    def _sell(self, answer: Personalisation, kinds: tuple[ContractKind, ...]) -> None:
        """The subscriptions sold with the card (a year from issue), through the registry."""
        for kind in kinds:
            contracts.sell(self.registry, self.actor, answer.card_number, kind=kind.name.lower(),
                           valid_from=answer.issued_on, valid_until=add_years(answer.issued_on, 1),
                           operator=CONTRACT_OPERATOR, product=CONTRACT_PRODUCT)

    def top_up(self, rider: Rider, amount_cents: int, channel: str) -> LoadOrder:
        """A top-up bought for ``rider``'s card through ``channel`` (online,
        kiosk, office): a load order every device receives, collected at the
        card's next tap.

        :raises SyncServerError: when the registry refuses (a card not active) or the database fails.
        """
        with self.registry.store.transaction(f"topping up card {rider.number}") as conn:
            return self.loads.queue(conn, rider.number, amount_cents, channel, self.actor)

    def report_lost(self, rider: Rider) -> states.LostReport:
        """The holder reports the card lost and asks for a duplicate.

        :raises SyncServerError: when the registry refuses or the database fails.
        """
        return states.report_lost(self.registry, self.actor, rider.number, "lost", duplicate=True)
