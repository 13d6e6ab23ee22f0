"""The card layer's exception tree.

Every error that the card layer raises is a :class:`CardError`. Errors that
concern a place on the card carry the sector and block, and name them in the
message, so an operator reading ``card verify`` output knows where to look.

    CardError
    ├── CardFormatError (ValueError)     bytes that do not decode
    ├── CardIntegrityError               a MAC or a cross-record check failed
    ├── TornStateError                   no consistent state can be recovered
    ├── CardAccessError (PermissionError) the chip refused: wrong key or access bits
    │   └── AuthenticationError          the key did not authenticate the sector
    ├── CardCommandError                 the chip refused a command for another reason
    ├── CardRemovedError                 the card left the field mid-operation
    ├── InsufficientFundsError           a debit would go below the allowed floor
    ├── AlreadyIssuedError               personalising a card that is already issued
    └── KeyMaterialError (ValueError)    master secrets missing or malformed
"""

from __future__ import annotations


class CardError(Exception):
    """Base of every error raised by the card layer.

    :param message: what went wrong, in words an operator understands.
    :param sector: the sector concerned, if any.
    :param block: the block (absolute number, 0..63) concerned, if any.
    """

    def __init__(self, message: str, *, sector: int | None = None, block: int | None = None) -> None:
        if block is not None and sector is None:
            sector = block // 4
        self.reason = message
        self.sector = sector
        self.block = block
        super().__init__(self._render(message))

    def _render(self, message: str) -> str:
        if self.block is not None:
            return f"sector {self.sector} block {self.block}: {message}"
        if self.sector is not None:
            return f"sector {self.sector}: {message}"
        return message


class CardFormatError(CardError, ValueError):
    """Bytes that do not decode: wrong length, bad BCC, inconsistent access bits,
    a broken value block, an unknown record version, a bad MAD CRC."""


class CardIntegrityError(CardError):
    """A record's MAC does not verify, or records contradict each other."""


class TornStateError(CardError):
    """The card holds no consistent state this role can recover."""


class CardAccessError(CardError, PermissionError):
    """The chip refused an operation: the access bits do not allow it with the
    key the sector was authenticated with, or the sector is not authenticated."""


class AuthenticationError(CardAccessError):
    """The key given did not authenticate the sector."""


class CardCommandError(CardError):
    """The chip refused a command for a reason other than access rights, e.g. a
    value operation on a block that is not a valid value block."""


class CardRemovedError(CardError):
    """The card left the field; the command in flight may have been torn."""


class InsufficientFundsError(CardError):
    """A debit would take the purse below the floor the caller allows."""


class AlreadyIssuedError(CardError):
    """The card is already personalised: issuing it again would wipe its purse."""


class KeyMaterialError(CardError, ValueError):
    """Master secrets are missing for the role asked, or malformed."""
