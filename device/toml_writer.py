"""A small TOML writer, enough for the device's own files: the standard
library reads TOML (:mod:`tomllib`) but does not write it.

:func:`dumps` writes a mapping of str keys to:

- ``str``, ``int`` (64-bit signed), ``float`` (``inf`` and ``nan`` included), ``bool``;
- ``datetime.datetime`` (offset or local), ``datetime.date``, ``datetime.time`` (without a zone);
- lists of any of these, written inline (``[1, 2]``, ``[{ a = 1 }]``), except a
  non-empty list of mappings in a table, written as an array of tables (``[[x]]``);
- nested mappings, written as ``[tables]`` (inline ``{ ... }`` inside arrays).

Scalars come before sub-tables in each table, as TOML requires. Keys are
bare when they can be (``A-Za-z0-9_-``), quoted otherwise. ``tomllib.loads``
of the output gives back an equal mapping (``nan`` aside).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def format_key(key: str) -> str:
    """``key`` as a TOML key: bare if it can be, else a quoted string."""
    return key if _BARE_KEY.fullmatch(key) else format_string(key)


def format_string(text: str) -> str:
    """``text`` as a TOML basic string, control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _path_text(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(top level)"


def format_value(value: Any, path: tuple[str, ...] = ()) -> str:
    """``value`` as an inline TOML value (mappings as inline tables).

    :raises TypeError: for a value TOML cannot hold (``None``, bytes, a
        non-str key, a time with a zone); ``path`` is named in the message.
    :raises ValueError: for an integer outside TOML's 64 bits.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"{_path_text(path)}: integer {value} does not fit TOML's 64 bits")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise TypeError(f"{_path_text(path)}: TOML has no time of day with a zone ({value!r})")
        return value.isoformat()
    if isinstance(value, Mapping):
        items = [f"{format_key(_check_key(key, path))} = {format_value(item, (*path, key))}"
                 for key, item in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "[" + ", ".join(format_value(item, (*path, str(index))) for index, item in enumerate(value)) + "]"
    raise TypeError(f"{_path_text(path)}: {type(value).__name__} {value!r} has no TOML form")


def _check_key(key: object, path: tuple[str, ...]) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{_path_text(path)}: key {key!r} is not a string")
    return key


def _is_table_array(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray) and len(value) > 0
            and all(isinstance(item, Mapping) for item in value))


def _write_table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any], header: str | None,
                 *, implicit: bool = False) -> None:
    # A table holding only sub-tables needs no header of its own (``implicit``):
    # its sub-tables' headers define it.
    later: list[tuple[str, Any]] = []
    values: list[str] = []
    for key, value in table.items():
        _check_key(key, path)
        if isinstance(value, Mapping) or _is_table_array(value):
            later.append((key, value))
        else:
            values.append(f"{format_key(key)} = {format_value(value, (*path, key))}")
    if header is not None and not (implicit and later and not values):
        if lines:
            lines.append("")
        lines.append(header)
    lines += values
    for key, value in later:
        sub = (*path, key)
        name = ".".join(format_key(part) for part in sub)
        if isinstance(value, Mapping):
            _write_table(lines, sub, value, f"[{name}]", implicit=True)
        else:
            for item in value:
                _write_table(lines, sub, item, f"[[{name}]]")


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as TOML text (see the module docstring for the types).

    :raises TypeError: for a value or key TOML cannot hold, naming its dotted path.
    :raises ValueError: for an integer outside 64 bits.
    """
    lines: list[str] = []
    _write_table(lines, (), document, None)
    return "\n".join(lines) + "\n" if lines else ""
