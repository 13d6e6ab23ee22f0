"""Reader URIs: one string that names a reader backend and its target.

    SCHEME:TARGET[?NAME=VALUE[&NAME=VALUE...]]

Schemes (:data:`READER_FACTORIES`, an immutable mapping):

- ``sim:PATH`` a simulated card loaded from the 1K dump at PATH, written back
  after every change; parameters ``tear_after=N`` (leave the field on command
  N+1) and ``torn_bytes=K`` (0..16 bytes of the interrupted write land).
- ``pcsc:`` the first contactless PC/SC reader, or ``pcsc:NAME`` the first
  whose name contains NAME (pyscard; see :mod:`hardware.pcsc.reader`).
- ``pn532:/dev/ttyS0`` a PN532 on a serial port (pyserial; :mod:`hardware.pn532.reader`).
- ``nfcpy:usb[:VID:PID]`` or ``nfcpy:tty:PATH`` a PN53x through nfcpy (:mod:`hardware.nfcpy_reader`).

The target runs up to the first ``?``, so it cannot itself contain one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from card_layout.geometry import BLOCK_SIZE
from hardware.errors import ReaderUriError
from hardware.reader import Reader
from hardware.sim.reader import SimReader


@dataclass(frozen=True)
class ReaderUri:
    """A parsed reader URI: scheme, target and parameters (as strings)."""

    scheme: str
    target: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __str__(self) -> str:
        query = "&".join(f"{name}={value}" for name, value in self.params.items())
        return f"{self.scheme}:{self.target}" + (f"?{query}" if query else "")

    def check_params(self, known: tuple[str, ...]) -> None:
        """:raises ReaderUriError: for a parameter not in ``known``."""
        for name in self.params:
            if name not in known:
                raise ReaderUriError(
                    f"reader URI {self}: unknown parameter {name!r} for {self.scheme}:"
                    f" (known: {', '.join(known) or 'none'})"
                )

    def float_param(self, name: str, low: float, high: float) -> float | None:
        """The parameter ``name`` as a number of seconds (or any real) in
        ``low < value <= high``, ``None`` if absent.

        :raises ReaderUriError: when it is not a finite number in range.
        """
        text = self.params.get(name)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ReaderUriError(f"reader URI {self}: {name}={text!r} is not a number") from None
        if not low < value <= high:  # also refuses nan
            raise ReaderUriError(f"reader URI {self}: {name}={value:g} outside {low:g} < {name} <= {high:g}")
        return value

    def int_param(self, name: str, low: int, high: int | None = None) -> int | None:
        """The parameter ``name`` as an integer in ``low..high``, ``None`` if absent.

        :raises ReaderUriError: when it is not a decimal integer in range.
        """
        text = self.params.get(name)
        if text is None:
            return None
        if not (text.isascii() and text.isdigit()):
            raise ReaderUriError(f"reader URI {self}: {name}={text!r} is not a non-negative integer")
        value = int(text)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise ReaderUriError(f"reader URI {self}: {name}={value} outside {bound}")
        return value


def _open_sim(uri: ReaderUri) -> Reader:
    uri.check_params(("tear_after", "torn_bytes"))
    tear_after = uri.int_param("tear_after", 0)
    torn_bytes = uri.int_param("torn_bytes", 0, BLOCK_SIZE)
    if torn_bytes is not None and tear_after is None:
        raise ReaderUriError(f"reader URI {uri}: torn_bytes needs tear_after (which command is torn)")
    return SimReader.from_dump(uri.target, tear_after=tear_after, torn_bytes=torn_bytes or 0)


# Backends with optional dependencies (pyscard, pyserial, nfcpy) import them only when used.
def _open_pcsc(uri: ReaderUri) -> Reader:
    from hardware.pcsc.reader import open_pcsc

    return open_pcsc(uri)


def _open_pn532(uri: ReaderUri) -> Reader:
    from hardware.pn532.reader import open_pn532

    return open_pn532(uri)


def _open_nfcpy(uri: ReaderUri) -> Reader:
    from hardware.nfcpy_reader import open_nfcpy

    return open_nfcpy(uri)


# ``pcsc:`` alone means the first contactless reader.
EMPTY_TARGET_OK = frozenset({"pcsc"})

READER_FACTORIES: Mapping[str, Callable[[ReaderUri], Reader]] = MappingProxyType(
    {"sim": _open_sim, "pcsc": _open_pcsc, "pn532": _open_pn532, "nfcpy": _open_nfcpy}
)


def _known() -> str:
    return ", ".join(sorted(READER_FACTORIES))


def is_reader_uri(text: str) -> bool:
    """Whether ``text`` starts with a known scheme and ``:`` (so a CLI argument
    is a URI rather than a dump path)."""
    scheme, sep, _ = text.partition(":")
    return bool(sep) and scheme in READER_FACTORIES


def parse_reader_uri(uri: str) -> ReaderUri:
    """Split ``uri`` into scheme, target and parameters.

    :raises ReaderUriError: for an unknown scheme, a missing target, or a
        malformed or repeated parameter.
    """
    scheme, sep, rest = uri.partition(":")
    if not sep:
        raise ReaderUriError(f"{uri!r} is not a reader URI (SCHEME:TARGET); known schemes: {_known()}")
    if scheme not in READER_FACTORIES:
        raise ReaderUriError(f"unknown reader scheme {scheme!r} in {uri!r}; known schemes: {_known()}")
    target, question, query = rest.partition("?")
    if not target and scheme not in EMPTY_TARGET_OK:
        raise ReaderUriError(f"reader URI {uri!r} names no target: expected {scheme}:PATH")
    params: dict[str, str] = {}
    if question:
        for item in query.split("&"):
            name, eq, value = item.partition("=")
            if not (name and eq and value):
                raise ReaderUriError(f"reader URI {uri!r}: parameter {item!r} is not NAME=VALUE")
            if name in params:
                raise ReaderUriError(f"reader URI {uri!r}: parameter {name!r} given twice")
            params[name] = value
    return ReaderUri(scheme, target, MappingProxyType(params))


def open_reader(uri: str) -> Reader:
    """The reader named by ``uri``.

    :raises ReaderUriError: when the URI is unknown or malformed.
    :raises HardwareError: when the backend cannot open its target (for
        ``sim:``, a :class:`~hardware.errors.DumpError`).
    """
    parsed = parse_reader_uri(uri)
    return READER_FACTORIES[parsed.scheme](parsed)
