"""Audit a card: is it genuine and consistent? The check behind
``citizencard card verify``. It spends commands freely (every sector, both
keys, well-known keys probed), so it is for kiosks, the issuance point and
technicians, never for a tap.

A finding is an *error* when the card is not genuine or not consistent: a
sector our derived keys do not open, a sector a well-known key opens, access
bits other than the layout's, a MAD that does not name our application, a
live record whose MAC does not verify, a value block not in value format (a
complete transaction always leaves both valid). It is a *note* when the card
holds the leftover of a transaction torn after its commit point, which the
next transaction clears.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..access import KeyType
from ..errors import CardError
from ..geometry import SECTORS, trailer_block
from ..keys import CardKeys, MasterKeys
from ..layout import MAD_BLOCKS, PURSE_VALUE_BLOCKS, TRANSACTION_SLOTS, access_for, gpb_for, holds_application
from ..mad import Mad
from ..reader import ClassicReader
from ..trailer import WELL_KNOWN_KEYS, SectorTrailer
from ..value_block import ValueBlock
from .channel import BlockSource, CardChannel
from .state import CardState, read_state


@dataclass(frozen=True)
class Finding:
    error: bool
    message: str


@dataclass(frozen=True)
class AuditReport:
    uid: bytes
    state: CardState | None
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def genuine(self) -> bool:
        return self.state is not None and not any(f.error for f in self.findings)

    @property
    def first_error(self) -> str | None:
        return next((f.message for f in self.findings if f.error), None)


def audit_records(source: BlockSource) -> tuple[CardState | None, list[Finding]]:
    """The MAD, the purse's value blocks and every record, read from ``source``."""
    findings: list[Finding] = []
    try:
        if not holds_application(Mad.decode(source.read_blocks(MAD_BLOCKS))):
            findings.append(Finding(True, "sector 0: the MAD does not name the citizen-card application"))
    except CardError as exc:
        findings.append(Finding(True, str(exc)))
    for block in PURSE_VALUE_BLOCKS:
        try:
            ValueBlock.decode(source.read(block), block)
        except CardError as exc:
            findings.append(Finding(True, f"{exc} (a transfer torn by a card pulled away, or tampering; "
                                          "the next transaction rewrites it)"))
    try:
        state = read_state(source, contracts=True, session=True, events=True)
    except CardError as exc:
        return None, [*findings, Finding(True, str(exc))]
    if state.purse.previous_still_valid:
        stale = TRANSACTION_SLOTS[1 - state.purse.slot].sector
        findings.append(Finding(False, f"sector {stale}: the previous transaction record still verifies (a "
                                       "commit torn after its commit point); the next transaction retires it"))
    return state, findings


def _authenticates(reader: ClassicReader, sector: int, key_type: KeyType, key: bytes) -> bool:
    try:
        reader.authenticate(trailer_block(sector), key_type, key)
    except CardError:
        reader.uid()  # a failed authentication halts the card: select it again
        return False
    return True


def _audit_sector(reader: ClassicReader, keys: CardKeys, sector: int, probe: bool) -> list[Finding]:
    findings = []
    if probe:
        for key in sorted(WELL_KNOWN_KEYS):
            for key_type in KeyType:
                if _authenticates(reader, sector, key_type, key):
                    findings.append(Finding(True, f"sector {sector}: the well-known key {key.hex().upper()} "
                                                  f"opens it as key {key_type.name}"))
    for key_type in KeyType:
        if keys.has(key_type) and not _authenticates(reader, sector, key_type, keys.sector_key(sector, key_type)):
            findings.append(Finding(True, f"sector {sector}: this card's derived key {key_type.name} does not open it"))
    if not _authenticates(reader, sector, KeyType.A, keys.sector_key(sector, KeyType.A)):
        return findings
    block = trailer_block(sector)
    try:
        trailer = SectorTrailer.decode(reader.read_block(block), sector)
    except CardError as exc:
        return [*findings, Finding(True, str(exc))]
    if trailer.access != access_for(sector):
        findings.append(Finding(True, f"sector {sector} block {block}: access bits "
                                      f"{trailer.access.encode().hex().upper()} differ from the layout's "
                                      f"{access_for(sector).encode().hex().upper()}"))
    if trailer.gpb != gpb_for(sector):
        findings.append(Finding(True, f"sector {sector} block {block}: general purpose byte {trailer.gpb:02X}, "
                                      f"expected {gpb_for(sector):02X}"))
    return findings


def audit_card(reader: ClassicReader, masters: MasterKeys, *, probe_well_known_keys: bool = True) -> AuditReport:
    """Audit the card in the field. What it finds on the card is reported as
    findings naming their sector and block, never raised.

    :raises CardRemovedError: when the card leaves the field during the audit.
    """
    keys = masters.for_card(reader.uid())
    findings: list[Finding] = []
    for sector in range(SECTORS):
        findings += _audit_sector(reader, keys, sector, probe_well_known_keys)
    state, record_findings = audit_records(CardChannel(reader, keys))
    return AuditReport(uid=keys.uid, state=state, findings=(*findings, *record_findings))
