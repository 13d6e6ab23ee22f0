"""Card state and card images rendered for people (text) and programs (JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from card_layout.image import SectorView
from card_layout.operations.state import CardState
from card_layout.records.contracts import Contract
from card_layout.records.event import Event
from card_layout.records.session import Session


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d} EUR"


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _contract(c: Contract) -> dict[str, Any]:
    return {"kind": c.kind.name.lower(), "operator": c.operator, "product": c.product,
            "valid_from": _iso(c.valid_from), "valid_until": _iso(c.valid_until)}


def _session(s: Session | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"kind": s.kind.name.lower(), "operator": s.operator, "asset": s.asset, "station": s.station,
            "started": _iso(s.started), "counter": s.counter}


def _event(e: Event) -> dict[str, Any]:
    return {"counter": e.counter, "type": e.type.name.lower(), "at": _iso(e.at), "amount_cents": e.amount_cents,
            "balance_cents": e.balance_cents, "operator": e.operator, "device": e.device, "location": e.location}


def state_dict(state: CardState) -> dict[str, Any]:
    ident, record = state.identity, state.record
    return {
        "uid": state.uid.hex().upper(),
        "card_number": ident.card_number,
        "city": ident.city,
        "kind": ident.kind.name.lower(),
        "profile": ident.profile.name.lower(),
        "issued": _iso(ident.issued),
        "expires": _iso(ident.expires),
        "holder": ident.holder,
        "balance_cents": state.balance_cents,
        "counter": record.counter,
        "load_seq": record.load_seq,
        "trip": {
            "journey_start": _iso(record.trip.journey_start),
            "last_boarding": _iso(record.trip.last_boarding),
            "line": record.trip.line,
            "operator": record.trip.operator,
            "transfers": record.trip.transfers,
        },
        "caps": {"day_cents": record.caps.day_cents, "month_cents": record.caps.month_cents},
        "contracts": [] if state.contracts is None else [_contract(c) for c in state.contracts.contracts],
        "session": _session(state.session),
        "events": [] if state.events is None else [_event(e) for e in state.events],
    }


def sector_dicts(views: tuple[SectorView, ...]) -> list[dict[str, Any]]:
    return [
        {
            "sector": v.sector,
            "area": v.area.value,
            "access_bits": None if v.trailer is None else v.trailer.access.encode().hex().upper(),
            "gpb": None if v.trailer is None else v.trailer.gpb,
            "rights": list(v.rights),
            "values": [{"block": block, "value": value} for block, value in v.values],
            "problem": v.problem,
        }
        for v in views
    ]


def state_lines(state: CardState) -> list[str]:
    ident, record = state.identity, state.record
    lines = [
        f"card {ident.card_number}  uid {state.uid.hex().upper()}  {ident.kind.name.lower()}, "
        f"profile {ident.profile.name.lower()}, city {ident.city}",
        f"issued {ident.issued}  expires {ident.expires}  holder {ident.holder}",
        f"balance {money(state.balance_cents)}  counter {record.counter}  last load {record.load_seq}",
    ]
    trip = record.trip
    if trip.last_boarding is not None:
        lines.append(f"trip: line {trip.line} operator {trip.operator}, boarded {trip.last_boarding.isoformat()}, "
                     f"journey since {_iso(trip.journey_start)}, {trip.transfers} transfer(s)")
    lines.append(f"caps: {money(record.caps.day_cents)} that day, {money(record.caps.month_cents)} that month")
    for c in () if state.contracts is None else state.contracts.contracts:
        lines.append(f"contract: {c.kind.name.lower()} operator {c.operator} product {c.product}, "
                     f"{c.valid_from}..{c.valid_until}")
    if state.session is not None:
        s = state.session
        lines.append(f"open {s.kind.name.lower()} session: asset {s.asset} at station {s.station} "
                     f"since {s.started.isoformat()}")
    for e in state.events or ():
        lines.append(f"event {e.counter}: {e.type.name.lower()} {e.at.isoformat()} {money(e.amount_cents)} "
                     f"-> {money(e.balance_cents)} device {e.device}")
    return lines


def sector_lines(views: tuple[SectorView, ...]) -> list[str]:
    lines = []
    for v in views:
        head = f"sector {v.sector:2d} {v.area.value:<12}"
        if v.trailer is None:
            lines.append(f"{head} {v.problem}")
            continue
        lines.append(f"{head} access {v.trailer.access.encode().hex().upper()} gpb {v.trailer.gpb:02X}")
        for index, rights in enumerate(v.rights):
            lines.append(f"    block {v.sector * 4 + index:2d}: {rights}")
        for block, value in v.values:
            lines.append(f"    value block {block}: {'not a value block' if value is None else value}")
    return lines
