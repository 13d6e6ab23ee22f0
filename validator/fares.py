"""The fare table: prices and rules per service and fare profile, from the
``[fares]`` tables of the device configuration (and later from the server's
versioned configuration list).

Amounts are integer cents. A per-profile table needs ``general``; a profile it
does not name pays the general price. Keys::

    [fares]
    version = 1
    currency = "EUR"

    [fares.bus]
    fare = { general = 150, child = 0, senior = 50 }   # per ride
    transfer_minutes = 45          # free transfers within this time of the journey's first boarding
    max_transfers = 3
    already_validated_seconds = 120   # a second tap on the same line within this is not charged
    day_cap = { general = 450 }    # optional: once reached, further rides that day are free
    month_cap = { general = 4000 } # optional: the same per calendar month
    negative_floor = 150           # how far below zero one last ride may take the balance
    kinds = ["citizen", "tourist", "company"]   # card kinds accepted

    [fares.bike]
    free_minutes = 30              # a rental shorter than this is free
    block_minutes = 30             # then, per started block
    block = { general = 50 }
    max_charge = 1200              # at most this per rental
    negative_floor = 0
    kinds = ["citizen", "tourist"]

    [fares.ev]
    per_kwh = { general = 25, disability = 0 }  # 0: free for that profile
    negative_floor = 0
    kinds = ["citizen", "company"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from card_layout.records.identity import CardKind, FareProfile

from .errors import FareTableError

PROFILES = {p.name.lower(): p for p in FareProfile}
KINDS = {k.name.lower(): k for k in CardKind}


@dataclass(frozen=True)
class ByProfile:
    """A price per fare profile, ``general`` for the profiles not named."""

    general: int
    others: Mapping[FareProfile, int]

    def __call__(self, profile: FareProfile) -> int:
        return self.others.get(profile, self.general)


@dataclass(frozen=True)
class BusFares:
    fare: ByProfile
    transfer_minutes: int = 45
    max_transfers: int = 3
    already_validated_seconds: int = 120
    day_cap: ByProfile | None = None
    month_cap: ByProfile | None = None
    negative_floor: int = 0
    kinds: frozenset[CardKind] = frozenset(CardKind)


@dataclass(frozen=True)
class BikeFares:
    block: ByProfile
    free_minutes: int = 30
    block_minutes: int = 30
    max_charge: int = 1200
    negative_floor: int = 0
    kinds: frozenset[CardKind] = frozenset(CardKind)

    def price(self, minutes: int, profile: FareProfile) -> int:
        """The charge for a rental of ``minutes`` (started minutes)."""
        if minutes <= self.free_minutes:
            return 0
        blocks = -(-(minutes - self.free_minutes) // self.block_minutes)
        return min(self.max_charge, blocks * self.block(profile))


@dataclass(frozen=True)
class EvFares:
    per_kwh: ByProfile
    negative_floor: int = 0
    kinds: frozenset[CardKind] = frozenset(CardKind)

    def price(self, energy_wh: int, profile: FareProfile) -> int:
        """The charge for ``energy_wh``, rounded to the nearest cent."""
        return (energy_wh * self.per_kwh(profile) + 500) // 1000


@dataclass(frozen=True)
class FareTable:
    version: int
    currency: str
    bus: BusFares
    bike: BikeFares
    ev: EvFares

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> FareTable:
        """:raises FareTableError: naming the key at fault."""
        reader = _Reader(mapping, "fares")
        table = cls(
            version=reader.integer("version", 0, 2**31 - 1, default=0),
            currency=reader.text("currency", default="EUR"),
            bus=_bus(reader.table("bus")),
            bike=_bike(reader.table("bike")),
            ev=_ev(reader.table("ev")),
        )
        reader.done()
        return table


def _bus(r: _Reader) -> BusFares:
    fares = BusFares(
        fare=r.by_profile("fare"),
        transfer_minutes=r.integer("transfer_minutes", 0, 24 * 60, default=45),
        max_transfers=r.integer("max_transfers", 0, 255, default=3),
        already_validated_seconds=r.integer("already_validated_seconds", 0, 3600, default=120),
        day_cap=r.by_profile("day_cap", optional=True),
        month_cap=r.by_profile("month_cap", optional=True),
        negative_floor=r.integer("negative_floor", 0, 100_000, default=0),
        kinds=r.kinds(),
    )
    r.done()
    return fares


def _bike(r: _Reader) -> BikeFares:
    fares = BikeFares(
        block=r.by_profile("block"),
        free_minutes=r.integer("free_minutes", 0, 24 * 60, default=30),
        block_minutes=r.integer("block_minutes", 1, 24 * 60, default=30),
        max_charge=r.integer("max_charge", 0, 1_000_000, default=1200),
        negative_floor=r.integer("negative_floor", 0, 100_000, default=0),
        kinds=r.kinds(),
    )
    r.done()
    return fares


def _ev(r: _Reader) -> EvFares:
    fares = EvFares(per_kwh=r.by_profile("per_kwh"), negative_floor=r.integer("negative_floor", 0, 100_000, default=0),
                    kinds=r.kinds())
    r.done()
    return fares


class _Reader:
    """Reads one TOML table, remembering the keys used so that unknown ones are refused."""

    def __init__(self, mapping: Any, path: str) -> None:
        if not isinstance(mapping, Mapping):
            raise FareTableError(f"{path}: expected a table")
        self.mapping, self.path, self.used = mapping, path, set[str]()

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.mapping.get(key)

    def table(self, key: str) -> _Reader:
        value = self._get(key)
        if value is None:
            raise FareTableError(f"{self.path}.{key}: missing")
        return _Reader(value, f"{self.path}.{key}")

    def integer(self, key: str, low: int, high: int, *, default: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FareTableError(f"{self.path}.{key}: {value!r} is not a whole number in {low}..{high}")
        return value

    def text(self, key: str, *, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise FareTableError(f"{self.path}.{key}: {value!r} is not a text")
        return value

    def by_profile(self, key: str, *, optional: bool = False) -> Any:
        value = self._get(key)
        if value is None:
            if optional:
                return None
            raise FareTableError(f"{self.path}.{key}: missing")
        inner = _Reader(value, f"{self.path}.{key}")
        prices = {}
        for name in value:
            if name not in PROFILES:
                raise FareTableError(f"{inner.path}.{name}: unknown fare profile (known: {', '.join(PROFILES)})")
            prices[PROFILES[name]] = inner.integer(name, 0, 1_000_000, default=0)
        if FareProfile.GENERAL not in prices:
            raise FareTableError(f"{inner.path}: needs a price for 'general'")
        return ByProfile(prices.pop(FareProfile.GENERAL), prices)

    def kinds(self) -> frozenset[CardKind]:
        value = self._get("kinds")
        if value is None:
            return frozenset(CardKind)
        if not isinstance(value, list) or not value or any(k not in KINDS for k in value):
            raise FareTableError(f"{self.path}.kinds: {value!r} is not a list of {', '.join(KINDS)}")
        return frozenset(KINDS[k] for k in value)

    def done(self) -> None:
        unknown = sorted(set(self.mapping) - self.used)
        if unknown:
            raise FareTableError(f"{self.path}: unknown key(s) {', '.join(unknown)}")


# A working fare table for a quick start (`citizencard validator init`), in the
# spirit of a mid-size Spanish city: discounts by socio-economic profile,
# 45-minute transfers, daily and monthly caps, free bikes for 30 minutes.
DEFAULT_FARES: dict[str, Any] = {
    "version": 1,
    "currency": "EUR",
    "bus": {
        "fare": {"general": 150, "child": 0, "student": 90, "senior": 50, "social": 30, "disability": 50,
                 "unemployed": 30, "large_family": 100},
        "transfer_minutes": 45,
        "max_transfers": 3,
        "already_validated_seconds": 120,
        "day_cap": {"general": 450, "student": 270, "senior": 150, "social": 90, "disability": 150,
                    "unemployed": 90, "large_family": 300},
        "month_cap": {"general": 4000, "student": 2500, "senior": 1200, "social": 800, "disability": 1200,
                      "unemployed": 800, "large_family": 3000},
        "negative_floor": 150,
        "kinds": ["citizen", "tourist", "company"],
    },
    "bike": {
        "free_minutes": 30,
        "block_minutes": 30,
        "block": {"general": 50, "student": 30, "social": 20},
        "max_charge": 1200,
        "negative_floor": 0,
        "kinds": ["citizen", "tourist"],
    },
    "ev": {
        "per_kwh": {"general": 25, "disability": 0},
        "negative_floor": 0,
        "kinds": ["citizen", "company"],
    },
}
