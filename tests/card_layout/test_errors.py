"""card_layout.errors: the exception tree and how errors name their place on the card."""

import pytest

from card_layout import errors as e


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (e.CardFormatError, (e.CardError, ValueError)),
        (e.CardIntegrityError, (e.CardError,)),
        (e.TornStateError, (e.CardError,)),
        (e.CardAccessError, (e.CardError, PermissionError)),
        (e.AuthenticationError, (e.CardAccessError, PermissionError)),
        (e.CardCommandError, (e.CardError,)),
        (e.CardRemovedError, (e.CardError,)),
        (e.InsufficientFundsError, (e.CardError,)),
        (e.AlreadyIssuedError, (e.CardError,)),
        (e.KeyMaterialError, (e.CardError, ValueError)),
    ],
)
def test_tree(cls, bases):
    for base in bases:
        assert issubclass(cls, base)


def test_message_names_the_place():
    assert str(e.CardError("bad")) == "bad"
    assert str(e.CardError("bad", sector=4)) == "sector 4: bad"
    error = e.CardError("bad", block=18)
    assert (error.sector, error.block, error.reason) == (4, 18, "bad")
    assert str(error) == "sector 4 block 18: bad"
    assert str(e.CardFormatError("bad", sector=4, block=18)) == "sector 4 block 18: bad"
