"""Staff password hashing (sync_server/passwords.py): scrypt with a salt,
parameters in the stored string, constant-time checks, bounded work."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_server import passwords
from sync_server.errors import InvalidValueError

CHEAP = passwords.Cost(log_n=4, r=8, p=1)  # for properties over many examples; the default is tested below


def test_a_hash_verifies_its_password_and_no_other() -> None:
    encoded = passwords.hash_password("correct horse battery")
    assert encoded.startswith("scrypt$15$8$1$")
    assert passwords.verify("correct horse battery", encoded)
    assert not passwords.verify("correct horse batterz", encoded)
    assert not passwords.verify("", encoded)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert passwords.hash_password("correct horse battery", cost=CHEAP) != \
        passwords.hash_password("correct horse battery", cost=CHEAP)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=passwords.PASSWORD_MIN, max_size=60).filter(str.strip), st.text(max_size=60))
def test_only_the_password_itself_verifies(password: str, other: str) -> None:
    encoded = passwords.hash_password(password, cost=CHEAP)
    assert passwords.verify(password, encoded)
    assert passwords.verify(other, encoded) == (other == password)


@pytest.mark.parametrize("password", ["short", " " * 20, "x" * (passwords.PASSWORD_MAX + 1), None, b"bytes-password"])
def test_unacceptable_passwords_are_refused(password: object) -> None:
    with pytest.raises(InvalidValueError):
        passwords.hash_password(password)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoded", [
    "", "scrypt", "bcrypt$15$8$1$AAAA$AAAA", "scrypt$15$8$1$!!$AAAA", "scrypt$x$8$1$AAAA$AAAA",
    "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # a key of the wrong length
    "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=",  # asks for far too much memory: never computed
])
def test_malformed_hashes_verify_nothing(encoded: str) -> None:
    assert not passwords.verify("correct horse battery", encoded)
    assert passwords.needs_rehash(encoded)


def test_a_hash_of_other_parameters_needs_rehashing() -> None:
    assert passwords.needs_rehash(passwords.hash_password("correct horse battery", cost=CHEAP))
    assert not passwords.needs_rehash(passwords.hash_password("correct horse battery"))


def test_a_password_longer_than_accepted_is_not_hashed_for_verification() -> None:
    encoded = passwords.hash_password("correct horse battery", cost=CHEAP)
    assert not passwords.verify("x" * (passwords.PASSWORD_MAX + 1), encoded)


def test_spending_verify_time_costs_what_a_verification_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = passwords.hash_password("correct horse battery")
    derived: list[tuple[int, passwords.Cost]] = []
    real_derive = passwords._derive

    def counting(password: str, salt: bytes, cost: passwords.Cost) -> bytes:
        derived.append((len(salt), cost))
        return real_derive(password, salt, cost)

    monkeypatch.setattr(passwords, "_derive", counting)
    assert not passwords.verify("wrong password here", encoded)
    passwords.spend_verify_time("wrong password here")
    assert len(derived) == 2 and derived[0] == derived[1], derived  # the same work: one derivation, same cost


