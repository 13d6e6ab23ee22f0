"""Per-card key derivation from master secrets (AES-CMAC, after NXP AN10922).

No two cards share a key: every sector key is ``CMAC(master, 0x01 || M)``
truncated to the 48 bits of a MIFARE Classic key, where the diversification
input ``M`` is the card UID, the sector number, the key role and the system
identifier. A key taken from one card (Crypto1 falls in seconds) opens no
other card, and the master secrets never leave the devices that hold them.

Masters are separate per role:

- ``key_a``: sector keys A (read, debit). Held by validators, kiosks, issuance.
- ``key_b``: sector keys B (credit, write, key management). Kiosks and the
  issuance point only: a validator's key store has no ``key_b``.
- ``mac``: per-card MAC keys for the records (see :mod:`card_layout.mac`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from .access import KeyType
from .errors import KeyMaterialError
from .geometry import check_sector
from .manufacturer import check_uid
from .trailer import KEY_SIZE

MASTER_SIZE = 16
SYSTEM_IDENTIFIER = b"CITIZENCARD1"
# AN10922 prefixes the diversification input with a constant per key type; 0x01 is AES-128.
DIV_CONSTANT_AES128 = b"\x01"
ROLE_KEY_A = b"A"
ROLE_KEY_B = b"B"
ROLE_MAC = b"M"


def cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B) of ``message`` under a 16-byte key."""
    mac = CMAC(algorithms.AES128(key))
    mac.update(message)
    return mac.finalize()


def diversify(master: bytes, uid: bytes, role: bytes, sector: int = 0) -> bytes:
    """The 16-byte diversified key for ``uid`` (4 or 7 bytes), a role tag and a sector."""
    m = bytes([len(uid)]) + uid + bytes([sector]) + role + SYSTEM_IDENTIFIER
    return cmac(master, DIV_CONSTANT_AES128 + m)


def _check_master(name: str, value: bytes | None) -> None:
    if value is not None and len(value) != MASTER_SIZE:
        raise KeyMaterialError(f"master secret {name} must be {MASTER_SIZE} bytes, got {len(value)}")


@dataclass(frozen=True)
class MasterKeys:
    """The master secrets a device holds. ``key_b`` is ``None`` on devices that
    must never raise a balance (validators)."""

    key_a: bytes
    mac: bytes
    key_b: bytes | None = None

    def __post_init__(self) -> None:
        _check_master("key_a", self.key_a)
        _check_master("mac", self.mac)
        _check_master("key_b", self.key_b)
        distinct = {self.key_a, self.mac} | ({self.key_b} if self.key_b else set())
        if len(distinct) != (3 if self.key_b else 2):
            raise KeyMaterialError("master secrets must differ from each other")

    @property
    def can_credit(self) -> bool:
        return self.key_b is not None

    def validator_subset(self) -> MasterKeys:
        """The secrets a validator may hold: no key B master."""
        return replace(self, key_b=None)

    def for_card(self, uid: bytes) -> CardKeys:
        return CardKeys(uid=check_uid(uid), masters=self)


@dataclass
class CardKeys:
    """The keys of one card, derived on first use and cached for the tap.

    ``granted`` holds single sector keys given for this card alone, e.g. the
    purse sector's key B that the server sends with a pending top-up so that
    a validator, which holds no key B master, can credit this one card.
    """

    uid: bytes
    masters: MasterKeys
    granted: dict[tuple[int, KeyType], bytes] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[bytes, int], bytes] = field(default_factory=dict, repr=False)

    def with_key(self, sector: int, key_type: KeyType, key: bytes) -> CardKeys:
        """These keys plus one sector key granted for this card."""
        check_sector(sector)
        if len(key) != KEY_SIZE:
            raise KeyMaterialError(f"a granted sector key is {KEY_SIZE} bytes, got {len(key)}")
        return CardKeys(self.uid, self.masters, {**self.granted, (sector, key_type): bytes(key)})

    def _derived(self, role: bytes, sector: int) -> bytes:
        slot = (role, sector)
        key = self._cache.get(slot)
        if key is None:
            master = {ROLE_KEY_A: self.masters.key_a, ROLE_KEY_B: self.masters.key_b, ROLE_MAC: self.masters.mac}[role]
            if master is None:
                raise KeyMaterialError("this key store holds no key B master: the role cannot credit or write")
            key = diversify(master, self.uid, role, sector)
            self._cache[slot] = key
        return key

    def sector_key(self, sector: int, key_type: KeyType) -> bytes:
        """The 6-byte MIFARE key of ``key_type`` for ``sector``.

        :raises KeyMaterialError: for key B when the store holds no key B master.
        """
        check_sector(sector)
        granted = self.granted.get((sector, key_type))
        if granted is not None:
            return granted
        role = ROLE_KEY_A if key_type is KeyType.A else ROLE_KEY_B
        return self._derived(role, sector)[:KEY_SIZE]

    def has(self, key_type: KeyType, sector: int | None = None) -> bool:
        """Whether this role holds ``key_type`` (for ``sector``, counting granted keys)."""
        if key_type is KeyType.A or self.masters.key_b is not None:
            return True
        return sector is not None and (sector, key_type) in self.granted

    @property
    def mac_key(self) -> bytes:
        return self._derived(ROLE_MAC, 0)
