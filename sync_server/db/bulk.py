"""Two tools for statements over many rows, on SQLite and PostgreSQL alike.

- :class:`TupleRelation`: many integer tuples as one statement parameter, to
  join against a table: a JSON array of arrays read by ``json_each`` on
  SQLite, one array per column ``unnest``-ed on PostgreSQL. The statement is
  the same however many tuples (compiled once, cached), and the database
  drives index lookups from it; SQLite uses no index for ``(a, b) IN
  (VALUES ...)``, and an expanding ``IN`` is rendered again on every call.
- :class:`PreparedExecutemany`: a Core statement compiled once for the
  engine's dialect and run with the driver's ``executemany`` on rows already
  in the database's terms (signed card numbers, timestamps as the column
  type binds them). SQLAlchemy's per-row parameter processing costs more
  than SQLite's insert itself; the row builder does that work once instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable


class TupleRelation:
    """A relation ``name(columns...)`` of integer tuples bound at execution:
    use :attr:`relation` in ``select_from``, :attr:`c` for its columns, and
    pass :meth:`params` of the tuples when executing."""

    def __init__(self, dialect: Dialect, name: str, columns: Sequence[str]) -> None:
        self._postgres = dialect.name == "postgresql"
        self._name, self._columns = name, tuple(columns)
        self.relation: Any
        self.c: dict[str, Any]
        if self._postgres:
            arrays = (bindparam(f"{name}_{c}", type_=ARRAY(BigInteger)) for c in self._columns)
            self.relation = func.unnest(*arrays).table_valued(*(column(c, BigInteger) for c in self._columns)) \
                .render_derived(name=name)
            self.c = {c: self.relation.c[c] for c in self._columns}
        else:
            self.relation = func.json_each(bindparam(name, type_=String)).table_valued("value").alias(name)
            self.c = {c: func.json_extract(self.relation.c.value, f"$[{i}]", type_=BigInteger)
                      for i, c in enumerate(self._columns)}

    def params(self, rows: Sequence[Sequence[int]]) -> dict[str, Any]:
        """The statement parameters that bind ``rows`` (each a tuple of the columns' integers)."""
        if self._postgres:
            return {f"{self._name}_{c}": [row[i] for row in rows] for i, c in enumerate(self._columns)}
        return {self._name: json.dumps(rows)}


class PreparedExecutemany:
    """``statement`` compiled for ``dialect`` with the bound parameters
    ``names``; :meth:`run` executes it once per row, each row a tuple of
    values in the order of ``names``, already as the driver takes them."""

    def __init__(self, statement: Executable, dialect: Dialect, names: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=True)
        self.sql = compiled.string
        self._names = tuple(names)
        self._positions: list[int] | None = None
        if compiled.positional:
            order = [self._names.index(name) for name in compiled.positiontup or ()]
            self._positions = None if order == list(range(len(self._names))) else order
            self._positional = True
        else:
            self._positional = False

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self._positional:
            names = self._names
            conn.exec_driver_sql(self.sql, [dict(zip(names, row, strict=True)) for row in rows])
        elif self._positions is None:
            conn.exec_driver_sql(self.sql, list(rows))
        else:
            positions = self._positions
            conn.exec_driver_sql(self.sql, [tuple(row[i] for i in positions) for row in rows])
