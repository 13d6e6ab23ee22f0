"""The master card registry of the back office: holders
(:mod:`.holders`), cards and their detail (:mod:`.cards`), their states and
the deny-list (:mod:`.states`), applications (:mod:`.applications`), the
issuance point (:mod:`.issuance`) and what a duplicate takes over from the
card it replaces (:mod:`.duplicates`). Each function takes a
:class:`~.base.Registry` (the store and the clock) and an
:class:`~sync_server.audit.Actor`, and does one action in one transaction
with its audit record. docs/registry.md describes the card lifecycle."""

from .base import Registry

__all__ = ["Registry"]
