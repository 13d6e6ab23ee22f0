"""The field device's configuration: one TOML file, overridable key by key
from the environment, checked in full when the device starts. Every key is
described in ``docs/configuration.md``::

    [device]
    id = 1201                 # device id, 1..4294967295
    mode = "bus"              # bus | bike | ev
    operator = 1              # 0..255
    location = 12             # line (bus), dock or station (bike), site (ev): 0..65535
    reader = "sim:card.mfd"   # a reader URI (hardware.uri)
    keys = "validator.keys"   # the key file (device.keystore)
    data_dir = "/var/lib/citizencard"   # journal and lists live here
    timezone = "Europe/Madrid"          # fare days and months are local days and months

    [tap]
    card_timeout = 5.0        # seconds to wait for a card in one tap
    remove_timeout = 10.0     # seconds to wait for the card to leave after a decision

    [feedback]
    backend = "console"       # console | gpio | mock
    [feedback.timings]        # hardware.feedback.timings.FeedbackTimings.from_mapping
    [feedback.pins]           # hardware.feedback.gpio.GpioPins.from_mapping

    [sync]                    # the sync agent (citizencard agent); every key has a default
    broker = "127.0.0.1"      # the MQTT broker's host
    port = 0                  # 0: 8883 with TLS, 1883 without
    ca = ""                   # TLS: the sync CA, the client certificate and key (citizencard pki);
    cert = ""                 #   all empty: plain TCP, allowed only to a broker on this machine
    key = ""
    signing_key = "sync.key"  # the device's Ed25519 key (citizencard keys sync)
    server_key = "server.pub" # the server's Ed25519 public key
    batch_size = 200          # journal entries per message, 1..500
    window = 4                # batches in flight awaiting the server's ack
    heartbeat = 60.0          # seconds between status messages
    ack_timeout = 30.0        # seconds before an unacknowledged batch is published again
    reconnect_min = 0.5       # reconnection backoff, seconds
    reconnect_max = 60.0
    retention = 7.0           # days an acknowledged, settled journal entry is kept

    [fares]                   # the initial fare table, handed to the validator as is

Environment overrides: ``CITIZENCARD_<TABLE>_<KEY>`` in upper case, dots of
nested tables as underscores (``CITIZENCARD_DEVICE_ID=1202``,
``CITIZENCARD_FEEDBACK_TIMINGS_LED_HOLD=2``). The text is read as the key's
type; an empty value counts as unset. A variable under one of the tables'
prefixes that names no key is an error, so a misspelt override never goes
unnoticed; ``[fares]`` cannot be overridden.

Relative paths (``keys``, ``data_dir``, the file of a ``sim:`` reader, the
``[sync]`` key and certificate files), in
the file or in an override, are relative to the directory of the config
file. :func:`load_config` returns them absolute.

:func:`render_config` writes a commented file for ``citizencard validator
init``; :data:`SETTINGS` lists every key the loader knows, for the docs and
their test.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hardware.errors import ReaderUriError
from hardware.feedback import FeedbackConfigError
from hardware.feedback.factory import FEEDBACK_BACKENDS
from hardware.feedback.gpio import GpioPins
from hardware.feedback.timings import FeedbackTimings
from hardware.uri import ReaderUri, parse_reader_uri

from . import toml_writer
from .errors import ConfigError

ENV_PREFIX = "CITIZENCARD_"
"""Every environment override starts with this, then the table and the key."""

DEFAULT_DATA_DIR = "/var/lib/citizencard"
"""Where the journal and the list stores live unless ``[device] data_dir`` says otherwise."""

MAX_TIMEOUT = 600.0
"""Longest ``[tap]`` timeout, seconds: more is a mistake (milliseconds written as seconds)."""

MAX_SYNC_SECONDS = 3600.0
"""Longest ``[sync]`` interval (heartbeat, ack timeout, backoff), seconds."""

MAX_RETENTION_DAYS = 3650.0
"""Longest ``[sync] retention``, days."""

MAX_BATCH_SIZE = 500
"""Most journal entries in one message: 500 entries of a few hundred bytes
stay well under the codec's 256 KiB (:data:`device.protocol.codec.MAX_MESSAGE_BYTES`);
the agent splits a batch that would not."""

MQTT_PORT, MQTTS_PORT = 1883, 8883
"""The MQTT ports without and with TLS, used when ``[sync] port`` is 0."""

LOOPBACK_NAMES = ("localhost",)
"""Host names taken as this machine (besides loopback addresses) for plain TCP."""

TABLES = ("device", "tap", "feedback", "sync", "fares")
"""The top-level tables of the file, in the order they are written."""


class DeviceMode(StrEnum):
    """What the device validates: what ``[device] location`` means depends on it."""

    BUS = "bus"
    """A bus validator; location is the line number."""
    BIKE = "bike"
    """A bike-share dock or station; location is the dock or station number."""
    EV = "ev"
    """An EV charging point; location is the site number."""


@dataclass(frozen=True)
class DeviceSection:
    """``[device]``: who and where the device is, and its files (paths absolute)."""

    id: int
    mode: DeviceMode
    operator: int
    location: int
    reader: str
    keys: Path
    data_dir: Path
    timezone: ZoneInfo


@dataclass(frozen=True)
class TapSection:
    """``[tap]``: how long one tap waits, in seconds."""

    card_timeout: float = 5.0
    remove_timeout: float = 10.0


@dataclass(frozen=True)
class FeedbackSection:
    """``[feedback]``: the backend name (a key of
    :data:`~hardware.feedback.factory.FEEDBACK_BACKENDS`), its timings and,
    for ``gpio``, its pins (always checked, whatever the backend)."""

    backend: str = "console"
    timings: FeedbackTimings = field(default_factory=FeedbackTimings)
    pins: GpioPins = field(default_factory=GpioPins)


@dataclass(frozen=True)
class SyncSection:
    """``[sync]``: how the sync agent reaches the broker and signs and checks
    messages (paths absolute). ``ca`` is ``None`` for plain TCP, which the
    loader allows only to a broker on this machine; with TLS, ``cert`` and
    ``key`` are the client certificate (its common name is the MQTT username)."""

    broker: str = "127.0.0.1"
    port: int = MQTT_PORT
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    signing_key: Path = Path("sync.key")
    server_key: Path = Path("server.pub")
    batch_size: int = 200
    window: int = 4
    heartbeat: float = 60.0
    ack_timeout: float = 30.0
    reconnect_min: float = 0.5
    reconnect_max: float = 60.0
    retention: float = 7.0
    """Days the agent keeps a journal entry once the server acknowledged it and it is settled."""

    @property
    def tls(self) -> bool:
        return self.ca is not None


@dataclass(frozen=True)
class DeviceConfig:
    """A checked device configuration.

    :attr fares: the ``[fares]`` table as read (a ``dict``, empty when the
        file has none), for the validator to check.
    :attr source: the file it was read from, as given.
    :attr overrides: the environment variables that replaced a value of the file.
    :attr sync: the ``[sync]`` table (defaults when the file has none; the
        loader always fills it).
    """

    device: DeviceSection
    tap: TapSection
    feedback: FeedbackSection
    fares: Mapping[str, Any]
    source: Path
    overrides: tuple[str, ...] = ()
    sync: SyncSection = field(default_factory=SyncSection)


class _Invalid(ValueError):
    """A value refused by a setting's parser; the loader adds the file, table and key."""


_REQUIRED: Any = object()


@dataclass(frozen=True)
class Setting:
    """One key the loader knows.

    :attr table: the dotted table it lives in (``device``, ``feedback.timings``).
    :attr kind: what the docs call its type: ``integer``, ``number``,
        ``string``, ``path``, ``reader URI``, ``time zone``; an environment
        override is read as an integer for ``integer``, a number for
        ``number``, as text otherwise.
    :attr default: the value as written in TOML, or :attr:`required` is true.
    """

    table: str
    key: str
    kind: str
    help: str
    default: Any = _REQUIRED
    parse: Callable[[Any, Path], Any] | None = None

    @property
    def required(self) -> bool:
        """Whether the file (or the environment) must give a value."""
        return self.default is _REQUIRED

    @property
    def env(self) -> str:
        """The environment variable that overrides it, e.g. ``CITIZENCARD_TAP_CARD_TIMEOUT``."""
        return f"{ENV_PREFIX}{self.table.replace('.', '_')}_{self.key}".upper()

    @property
    def name(self) -> str:
        """``[table] key``, as messages name it."""
        return f"[{self.table}] {self.key}"


def _integer(low: int, high: int) -> Callable[[Any, Path], int]:
    def parse(value: Any, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"{value!r} is not an integer")
        if not low <= value <= high:
            raise _Invalid(f"{value} is outside {low}..{high}")
        return value

    return parse


def _seconds(high: float) -> Callable[[Any, Path], float]:
    def parse(value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _Invalid(f"{value!r} is not a number of seconds")
        if not 0 < value <= high:
            hint = " (seconds, not milliseconds)" if value > high else ""
            raise _Invalid(f"{value!r} is outside (0, {high:g}] seconds{hint}")
        return float(value)

    return parse


def _days(high: float) -> Callable[[Any, Path], float]:
    def parse(value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _Invalid(f"{value!r} is not a number of days")
        if not 0 < value <= high:
            raise _Invalid(f"{value!r} is outside (0, {high:g}] days")
        return float(value)

    return parse


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{value!r} is not a string")
    if not value.strip():
        raise _Invalid("must not be empty")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[Any, Path], str]:
    def parse(value: Any, base: Path) -> str:
        if _string(value) not in options:
            raise _Invalid(f"{value!r} is not one of {', '.join(options)}")
        return value

    return parse


def _mode(value: Any, base: Path) -> DeviceMode:
    return DeviceMode(_choice(tuple(DeviceMode))(value, base))


def _path(value: Any, base: Path) -> Path:
    return base / _string(value)  # an absolute value replaces base


def _optional_path(value: Any, base: Path) -> Path | None:
    if not isinstance(value, str):
        raise _Invalid(f"{value!r} is not a string")
    return base / value if value.strip() else None


def _host(value: Any, base: Path) -> str:
    host = _string(value).strip()
    if any(char.isspace() for char in host) or "/" in host:
        raise _Invalid(f"{value!r} is not a host name or address")
    return host


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: a loopback address or ``localhost``
    (no name is resolved)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reader(value: Any, base: Path) -> str:
    try:
        uri = parse_reader_uri(_string(value))
    except ReaderUriError as exc:
        raise _Invalid(str(exc)) from exc
    if uri.scheme == "sim":  # the only scheme whose target is a file of ours
        uri = ReaderUri(uri.scheme, str(base / uri.target), uri.params)
    return str(uri)


def _timezone(value: Any, base: Path) -> ZoneInfo:
    name = _string(value)
    try:
        return ZoneInfo(name)
    # ValueError: not a zone key ("../x") or not a zone file; OSError: a directory ("Europe"), too long a name.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _Invalid(f"{value!r} is not a known time zone (an IANA name such as 'Europe/Madrid')") from exc


_FEEDBACK_HELP = {
    "approved_beep": "the one beep of an approved tap",
    "denied_beep": "each beep of a denied (and attention) pattern",
    "denied_gap": "silence between those beeps",
    "denied_beeps": "beeps for a denied tap (1..10)",
    "attention_beeps": "beeps for 'tap again', low balance (1..10)",
    "led_hold": "how long the green or red LED stays lit",
    "message_hold": "how long the message stays before 'Present card'",
    "buzzer": "BCM GPIO of the buzzer",
    "green_led": "BCM GPIO of the green LED",
    "red_led": "BCM GPIO of the red LED",
}


def _feedback_settings(table: str, record: type[FeedbackTimings] | type[GpioPins]) -> tuple[Setting, ...]:
    # Checked by the record's own from_mapping; the kind follows the default's type.
    return tuple(
        Setting(table, f.name, "integer" if isinstance(f.default, int) else "number",
                _FEEDBACK_HELP.get(f.name, ""), f.default)
        for f in fields(record)
    )


SETTINGS: tuple[Setting, ...] = (
    Setting("device", "id", "integer", "device id, 1..4294967295", parse=_integer(1, 2**32 - 1)),
    Setting("device", "mode", "string", "bus | bike | ev", parse=_mode),
    Setting("device", "operator", "integer", "operator number, 0..255", parse=_integer(0, 255)),
    Setting("device", "location", "integer", "line (bus), dock or station (bike), site (ev): 0..65535",
            parse=_integer(0, 65535)),
    Setting("device", "reader", "reader URI", "the card reader, e.g. sim:card.mfd, pcsc:, pn532:/dev/ttyS0",
            parse=_reader),
    Setting("device", "keys", "path", "the key file (citizencard keys validator)", parse=_path),
    Setting("device", "data_dir", "path", "where the journal and the lists live", DEFAULT_DATA_DIR, _path),
    Setting("device", "timezone", "time zone", "IANA zone name: fare days and months are local",
            parse=_timezone),
    Setting("tap", "card_timeout", "number", "seconds to wait for a card in one tap", 5.0, _seconds(MAX_TIMEOUT)),
    Setting("tap", "remove_timeout", "number", "seconds to wait for the card to leave after a decision", 10.0,
            _seconds(MAX_TIMEOUT)),
    Setting("feedback", "backend", "string", " | ".join(FEEDBACK_BACKENDS), "console",
            _choice(tuple(FEEDBACK_BACKENDS))),
    *_feedback_settings("feedback.timings", FeedbackTimings),
    *_feedback_settings("feedback.pins", GpioPins),
    Setting("sync", "broker", "string", "the MQTT broker's host name or address", "127.0.0.1", _host),
    Setting("sync", "port", "integer", "0: 8883 with TLS, 1883 without", 0, _integer(0, 65535)),
    Setting("sync", "ca", "path", "TLS: the sync CA certificate; empty: plain TCP (this machine only)", "",
            _optional_path),
    Setting("sync", "cert", "path", "TLS: this device's client certificate (citizencard pki client)", "",
            _optional_path),
    Setting("sync", "key", "path", "TLS: its private key", "", _optional_path),
    Setting("sync", "signing_key", "path", "the device's Ed25519 signing key (citizencard keys sync)", "sync.key",
            _path),
    Setting("sync", "server_key", "path", "the server's Ed25519 public key", "server.pub", _path),
    Setting("sync", "batch_size", "integer", f"journal entries per message, 1..{MAX_BATCH_SIZE}", 200,
            _integer(1, MAX_BATCH_SIZE)),
    Setting("sync", "window", "integer", "batches in flight awaiting the server's ack, 1..64", 4, _integer(1, 64)),
    Setting("sync", "heartbeat", "number", "seconds between status messages", 60.0, _seconds(MAX_SYNC_SECONDS)),
    Setting("sync", "ack_timeout", "number", "seconds before an unacknowledged batch is published again", 30.0,
            _seconds(MAX_SYNC_SECONDS)),
    Setting("sync", "reconnect_min", "number", "first reconnection delay, seconds", 0.5,
            _seconds(MAX_SYNC_SECONDS)),
    Setting("sync", "reconnect_max", "number", "longest reconnection delay, seconds", 60.0,
            _seconds(MAX_SYNC_SECONDS)),
    Setting("sync", "retention", "number", "days an acknowledged, settled journal entry is kept", 7.0,
            _days(MAX_RETENTION_DAYS)),
)
"""Every key the loader knows, table by table, in the order they are written."""

# Tables below the top level, with the record that checks each.
_SUBTABLES: dict[str, Callable[[Mapping[str, object]], Any]] = {
    "feedback.timings": FeedbackTimings.from_mapping,
    "feedback.pins": GpioPins.from_mapping,
}


def _keys_of(table: str) -> list[str]:
    keys = [s.key for s in SETTINGS if s.table == table]
    keys += [sub.rpartition(".")[2] for sub in _SUBTABLES if sub.rpartition(".")[0] == table]
    return keys


class _Loader:
    """One load: the raw tables, where each overridden value came from, and the base for relative paths."""

    def __init__(self, raw: dict[str, Any], source: str, base: Path) -> None:
        self.raw = raw
        self.source = source
        self.base = base
        self.origins: dict[tuple[str, str], str] = {}  # (table, key) -> environment variable

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def table(self, dotted: str) -> dict[str, Any]:
        node: Any = self.raw
        for part in dotted.split("."):
            node = node.get(part, {})
            if not isinstance(node, dict):
                raise self.fail(f"[{dotted}]", f"must be a table, got {_toml_type(node)}")
        return node  # type: ignore[no-any-return]

    def check_structure(self) -> None:
        unknown = [name for name in self.raw if name not in TABLES]
        if unknown:
            raise self.fail(f"[{unknown[0]}]", f"unknown table (known: {', '.join(TABLES)})")
        for name in ("device", "tap", "feedback", "sync", *_SUBTABLES):
            section = self.table(name)
            known = _keys_of(name)
            for key in section:
                if key not in known:
                    raise self.fail(f"[{name}] {key}", f"unknown key (known: {', '.join(known)})")
        self.table("fares")

    def apply_environment(self, environ: Mapping[str, str]) -> tuple[str, ...]:
        by_env = {s.env: s for s in SETTINGS}
        prefixes = [f"{ENV_PREFIX}{name.upper()}_" for name in TABLES]
        applied = []
        for name in sorted(environ):
            if not any(name.startswith(prefix) for prefix in prefixes):
                continue
            setting = by_env.get(name)
            if setting is None:
                if name.startswith(f"{ENV_PREFIX}FARES_"):
                    raise self.fail(name, "[fares] cannot be overridden from the environment")
                raise self.fail(name, f"names no key of the configuration (variables are {ENV_PREFIX}<TABLE>_<KEY>, "
                                      f"e.g. {SETTINGS[0].env}; see docs/configuration.md)")
            text = environ[name]
            if not text.strip():
                continue  # empty counts as unset, as for CITIZENCARD_FEEDBACK
            self._ensure_table(setting.table)[setting.key] = self._from_text(setting, text)
            self.origins[(setting.table, setting.key)] = name
            applied.append(name)
        return tuple(applied)

    def _ensure_table(self, dotted: str) -> dict[str, Any]:
        # Unlike table(), creates a table missing from the file; check_structure() made sure the others are tables.
        node = self.raw
        for part in dotted.split("."):
            node = node.setdefault(part, {})
        return node

    def _from_text(self, setting: Setting, text: str) -> Any:
        try:
            if setting.kind == "integer":
                return int(text)
            if setting.kind == "number":
                return float(text)
        except ValueError:
            raise self.fail(f"{setting.name} (from {setting.env})", f"{text!r} is not {_article(setting.kind)}") \
                from None
        return text

    def where(self, setting: Setting) -> str:
        origin = self.origins.get((setting.table, setting.key))
        return setting.name + (f" (from {origin})" if origin else "")

    def value(self, setting: Setting) -> Any:
        section = self.table(setting.table)
        if setting.key in section:
            value = section[setting.key]
        elif setting.required:
            raise self.fail(setting.name, f"missing; required ({setting.help}; or set {setting.env})")
        else:
            value = setting.default
        assert setting.parse is not None
        try:
            return setting.parse(value, self.base)
        except _Invalid as exc:
            raise self.fail(self.where(setting), str(exc)) from exc.__cause__

    def values(self, table: str) -> dict[str, Any]:
        return {s.key: self.value(s) for s in SETTINGS if s.table == table}

    def record(self, dotted: str) -> Any:
        try:
            return _SUBTABLES[dotted](self.table(dotted))
        except FeedbackConfigError as exc:
            message = str(exc)
            for prefix in ("feedback timings: ", "feedback pins: "):
                message = message.removeprefix(prefix)
            overridden = sorted(env for (table, _), env in self.origins.items() if table == dotted)
            if overridden:
                message += f" (overridden by {', '.join(overridden)})"
            raise ConfigError(f"{self.source}: [{dotted}] {message}") from exc

    def build(self, source: Path, overrides: tuple[str, ...]) -> DeviceConfig:
        feedback = self.values("feedback")
        return DeviceConfig(
            device=DeviceSection(**self.values("device")),
            tap=TapSection(**self.values("tap")),
            feedback=FeedbackSection(backend=feedback["backend"], timings=self.record("feedback.timings"),
                                     pins=self.record("feedback.pins")),
            fares=self.table("fares"),
            source=source,
            overrides=overrides,
            sync=self.sync(),
        )

    def sync(self) -> SyncSection:
        """``[sync]``, its keys checked together: TLS files go together, and
        plain TCP only to this machine."""
        values = self.values("sync")
        by_key = {s.key: s for s in SETTINGS if s.table == "sync"}
        ca, cert, key = values["ca"], values["cert"], values["key"]
        if (cert is None) != (key is None):
            given, missing = ("cert", "key") if key is None else ("key", "cert")
            raise self.fail(self.where(by_key[missing]), f"missing: [sync] {given} is given, and a client "
                                                         "certificate needs both its certificate and its key")
        if ca is None and cert is not None:
            raise self.fail(self.where(by_key["ca"]), "missing: a client certificate is for TLS, which needs the "
                                                      "sync CA certificate to check the broker")
        if ca is not None and cert is None:
            raise self.fail(self.where(by_key["cert"]), "missing: TLS needs this device's client certificate and "
                                                        "key (citizencard pki client DIR DEVICE_ID); the broker "
                                                        "refuses clients without one")
        if ca is None and not is_loopback(values["broker"]):
            raise self.fail(self.where(by_key["broker"]),
                            f"plain TCP (no [sync] ca) is allowed only to a broker on this machine (127.0.0.1, ::1, "
                            f"localhost), not {values['broker']!r}: set ca, cert and key (citizencard pki) for TLS")
        if values["reconnect_min"] > values["reconnect_max"]:
            raise self.fail(self.where(by_key["reconnect_min"]),
                            f"{values['reconnect_min']:g} is above reconnect_max ({values['reconnect_max']:g})")
        if values["port"] == 0:
            values["port"] = MQTTS_PORT if ca is not None else MQTT_PORT
        return SyncSection(**values)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _toml_type(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}.get(
        type(value), type(value).__name__)


def load_config(path: os.PathLike[str] | str, environ: Mapping[str, str] | None = None) -> DeviceConfig:
    """Read and check the configuration at ``path``, with the overrides of
    ``environ`` (``os.environ`` when ``None``) applied.

    :raises ConfigError: when the file is missing, unreadable or not TOML
        (the message gives the line), has an unknown table or key, misses a
        required key, or has a value of the wrong type or out of range, a bad
        reader URI or an unknown time zone; or when an override names no key
        or cannot be read as the key's type. The message starts with ``path``
        and names the key (and the variable, for an override).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found (write one with 'citizencard validator init')") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the config file: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    loader = _Loader(raw, str(source), source.absolute().parent)
    loader.check_structure()
    overrides = loader.apply_environment(os.environ if environ is None else environ)
    return loader.build(source, overrides)


def render_config(
    *,
    device_id: int,
    mode: DeviceMode | str,
    operator: int,
    location: int,
    reader: str,
    keys: os.PathLike[str] | str,
    timezone: str,
    data_dir: os.PathLike[str] | str = DEFAULT_DATA_DIR,
    card_timeout: float = 5.0,
    remove_timeout: float = 10.0,
    feedback_backend: str = "console",
    timings: FeedbackTimings | None = None,
    pins: GpioPins | None = None,
    fares: Mapping[str, Any] | None = None,
    sync: Mapping[str, Any] | None = None,
) -> str:
    """A commented config file holding these values, for ``citizencard
    validator init``. Paths are written as given: a relative one is read
    back relative to the directory the file is written to. ``fares`` (a
    mapping of str keys to TOML-able values and nested mappings) becomes the
    ``[fares]`` table and its sub-tables. ``sync`` maps ``[sync]`` keys to
    values (TOML-able, as written in the file) that replace the defaults.

    The text is checked with the loader's own rules before it is returned,
    so what this writes :func:`load_config` reads.

    :raises ConfigError: for a value the loader would refuse, or ``fares``
        holding something TOML cannot (``None``, bytes, non-str keys).
    """
    given: dict[str, dict[str, Any]] = {
        "device": {"id": device_id, "mode": str(mode), "operator": operator, "location": location,
                   "reader": reader, "keys": os.fspath(keys), "data_dir": os.fspath(data_dir),
                   "timezone": timezone},
        "tap": {"card_timeout": card_timeout, "remove_timeout": remove_timeout},
        "feedback": {"backend": feedback_backend},
        "feedback.timings": asdict(timings if timings is not None else FeedbackTimings()),
        "feedback.pins": asdict(pins if pins is not None else GpioPins()),
        "sync": {s.key: s.default for s in SETTINGS if s.table == "sync"},
    }
    unknown = sorted(set(sync or {}) - set(given["sync"]))
    if unknown:
        raise ConfigError(f"render_config: [sync] {unknown[0]}: unknown key (known: {', '.join(given['sync'])})")
    given["sync"].update(sync or {})
    try:
        fares_text = toml_writer.dumps({"fares": dict(fares or {})})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"render_config: {exc}") from exc

    lines = [
        "# citizencard field device configuration: every key is described in docs/configuration.md.",
        "# Any key can be overridden from the environment, e.g. CITIZENCARD_DEVICE_ID=1202.",
        "# Relative paths are relative to the directory of this file.",
    ]
    for table in ("device", "tap", "feedback", *_SUBTABLES, "sync"):
        lines += ["", f"[{table}]"]
        if table == "feedback.pins":
            lines.append("# BCM GPIO numbers, used by the gpio backend")
        if table == "sync":
            lines.append("# The sync agent (citizencard agent); docs/configuration.md#sync")
        for setting in (s for s in SETTINGS if s.table == table):
            line = f"{setting.key} = {toml_writer.format_value(given[table][setting.key])}"
            lines.append(f"{line:<30}  # {setting.help}" if setting.help else line)
    lines += ["", "# The initial fare table, handed to the validator as is; the server sends newer ones."]
    text = "\n".join(lines) + "\n" + fares_text

    raw = tomllib.loads(text)
    loader = _Loader(raw, "render_config", Path("/"))
    loader.check_structure()
    loader.build(Path("render_config"), ())
    return text
