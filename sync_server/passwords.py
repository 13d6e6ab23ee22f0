"""Staff passwords, hashed with scrypt (memory-hard: RFC 7914, Python's
:func:`hashlib.scrypt`), so a copy of ``staff_users`` costs an attacker
memory and time for every guess.

A hash is one string that names its parameters, so they can be raised later
without breaking the hashes already stored (:func:`needs_rehash` tells when a
stored one is weaker than today's)::

    scrypt$<log2 n>$<r>$<p>$<salt, base64>$<key, base64>

:func:`verify` compares in constant time, and :func:`spend_verify_time` costs
what a real verification costs, so that an unknown user is not told apart from
a wrong password by the time the answer takes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import InvalidValueError

PASSWORD_MIN = 10
"""Characters of the shortest password accepted."""
PASSWORD_MAX = 1024
"""Characters of the longest: hashing is bounded, whatever a form posts."""

_SCHEME = "scrypt"
_SALT_BYTES = 16
_KEY_BYTES = 32


@dataclass(frozen=True)
class Cost:
    """scrypt's parameters: ``n = 2**log_n`` blocks of ``128 * r`` bytes, ``p`` lanes."""

    log_n: int = 15
    r: int = 8
    p: int = 1

    @property
    def memory(self) -> int:
        """Bytes scrypt needs with these parameters."""
        return 128 * self.r * (2**self.log_n + self.p + 2)


DEFAULT_COST = Cost()
"""32 MiB and some 50 ms per hash on a server core."""

_LIMITS = Cost(log_n=20, r=32, p=16)  # a stored hash asking for more is refused, not computed


def check_password(password: str) -> None:
    """Whether ``password`` may be set.

    :raises InvalidValueError: for a password not a string, shorter than
        :data:`PASSWORD_MIN` or longer than :data:`PASSWORD_MAX` characters, or blank.
    """
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or not password.strip():
        raise InvalidValueError(f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters, not all spaces")


def _derive(password: str, salt: bytes, cost: Cost) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**cost.log_n, r=cost.r, p=cost.p,
                          maxmem=cost.memory + 1024 * 1024, dklen=_KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, cost: Cost = DEFAULT_COST, check: bool = True) -> str:
    """The stored form of ``password``: a new random salt each time.
    ``check=False`` hashes again a password accepted when it was set (under
    the rules of that day).

    :raises InvalidValueError: as :func:`check_password` (with ``check``).
    """
    if check:
        check_password(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, cost)
    return f"{_SCHEME}${cost.log_n}${cost.r}${cost.p}${_b64(salt)}${_b64(key)}"


def _parse(encoded: str) -> tuple[Cost, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME or not all(part.isdigit() for part in parts[1:4]):
        return None
    cost = Cost(int(parts[1]), int(parts[2]), int(parts[3]))
    if not (1 <= cost.log_n <= _LIMITS.log_n and 1 <= cost.r <= _LIMITS.r and 1 <= cost.p <= _LIMITS.p):
        return None
    try:
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not salt or len(key) != _KEY_BYTES:
        return None
    return cost, salt, key


def verify(password: str, encoded: str) -> bool:
    """Whether ``password`` is the one ``encoded`` (:func:`hash_password`)
    was made from; ``False`` for a malformed hash or a password outside the
    accepted lengths (never computed)."""
    parsed = _parse(encoded)
    if parsed is None or not isinstance(password, str) or len(password) > PASSWORD_MAX:
        return False
    cost, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, cost), key)


def needs_rehash(encoded: str, *, cost: Cost = DEFAULT_COST) -> bool:
    """Whether ``encoded`` was made with other parameters than ``cost`` (or is malformed)."""
    parsed = _parse(encoded)
    return parsed is None or parsed[0] != cost


_DUMMY_SALT = secrets.token_bytes(_SALT_BYTES)


def spend_verify_time(password: str, *, cost: Cost = DEFAULT_COST) -> None:
    """Cost what :func:`verify` of a hash of ``cost`` costs, for a user who
    has no password to check against (unknown, disabled, API only)."""
    candidate = password[:PASSWORD_MAX] if isinstance(password, str) else ""
    _derive(candidate, _DUMMY_SALT, cost)
