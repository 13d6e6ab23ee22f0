"""The operators (the companies running services; ``devices.operator`` and
contracts name them by their id, 0..255 as on the card) and the services
riders use (``devices.mode`` names them by their code: bus, bike, ev, ...).
Each addition is audited in its own transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from . import audit
from .audit import Actor
from .db.access import reading, writing
from .db.models import Operator, Service
from .errors import DuplicateOperatorError, DuplicateServiceError, InvalidValueError, StoreError

OPERATORS: Table = Operator.__table__  # type: ignore[assignment]
SERVICES: Table = Service.__table__  # type: ignore[assignment]

OPERATOR_ID_MAX = 255
NAME_MAX = 128
CODE_MAX = 16


@dataclass(frozen=True)
class OperatorInfo:
    id: int
    name: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ServiceInfo:
    code: str
    name: str
    created_at: dt.datetime


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise InvalidValueError(f"a name is 1 to {NAME_MAX} characters, got {name!r:.80}")
    return name.strip()


class Operators:
    """Operators and services over ``engine`` (migrated); ``clock`` stamps additions."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def _insert(self, actor: Actor, table: Table, values: dict[str, object], target: str,
                duplicate: type[StoreError]) -> dt.datetime:
        now = self._clock()
        try:
            with writing(self._engine, f"adding {target}") as conn:
                conn.execute(table.insert().values(created_at=now, **values))
                audit.record(conn, actor, f"{table.name[:-1]}.add", target, now, values)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise duplicate(f"{target} or one of the same name exists already") from exc.__cause__
            raise
        return now

    def add_operator(self, actor: Actor, operator_id: int, name: str) -> OperatorInfo:
        """Register operator ``operator_id`` (0..255) named ``name``.

        :raises InvalidValueError: for an id or name out of range.
        :raises DuplicateOperatorError: when the id or the name is taken.
        :raises StoreError: when the database fails.
        """
        if isinstance(operator_id, bool) or not isinstance(operator_id, int) or \
                not 0 <= operator_id <= OPERATOR_ID_MAX:
            raise InvalidValueError(f"an operator id is 0..{OPERATOR_ID_MAX}, got {operator_id!r:.40}")
        name = _name(name)
        with reading(self._engine, "checking operators") as conn:
            taken = conn.execute(select(OPERATORS.c.id).where(
                or_(OPERATORS.c.id == operator_id, OPERATORS.c.name == name))).first()
        if taken is not None:
            raise DuplicateOperatorError(f"operator {operator_id} or one named {name!r} exists already")
        now = self._insert(actor, OPERATORS, {"id": operator_id, "name": name}, f"operator:{operator_id}",
                           DuplicateOperatorError)
        return OperatorInfo(operator_id, name, now)

    def add_service(self, actor: Actor, code: str, name: str) -> ServiceInfo:
        """Register service ``code`` (the devices' mode) named ``name``.

        :raises InvalidValueError: for a code or name out of range.
        :raises DuplicateServiceError: when the code is taken.
        :raises StoreError: when the database fails.
        """
        if not isinstance(code, str) or not code or len(code) > CODE_MAX or code != code.strip():
            raise InvalidValueError(f"a service code is 1 to {CODE_MAX} characters, got {code!r:.40}")
        name = _name(name)
        with reading(self._engine, "checking services") as conn:
            taken = conn.execute(select(SERVICES.c.code).where(SERVICES.c.code == code)).first()
        if taken is not None:
            raise DuplicateServiceError(f"service {code!r} exists already")
        now = self._insert(actor, SERVICES, {"code": code, "name": name}, f"service:{code}", DuplicateServiceError)
        return ServiceInfo(code, name, now)

    def operators(self) -> list[OperatorInfo]:
        """Every operator, by id.

        :raises StoreError: when the database fails.
        """
        with reading(self._engine, "listing operators") as conn:
            return [OperatorInfo(row.id, row.name, row.created_at)
                    for row in conn.execute(select(OPERATORS).order_by(OPERATORS.c.id))]

    def operator(self, operator_id: int) -> OperatorInfo | None:
        """Operator ``operator_id``, or ``None``.

        :raises StoreError: when the database fails.
        """
        with reading(self._engine, "reading an operator") as conn:
            row = conn.execute(select(OPERATORS).where(OPERATORS.c.id == operator_id)).first()
        return None if row is None else OperatorInfo(row.id, row.name, row.created_at)

    def services(self) -> list[ServiceInfo]:
        """Every service, by code.

        :raises StoreError: when the database fails.
        """
        with reading(self._engine, "listing services") as conn:
            return [ServiceInfo(row.code, row.name, row.created_at)
                    for row in conn.execute(select(SERVICES).order_by(SERVICES.c.code))]
