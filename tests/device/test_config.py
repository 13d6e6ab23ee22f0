"""The device configuration: loading, checks with clear messages, environment
overrides, relative paths, and render -> load round trips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.config import (
    SETTINGS,
    DeviceConfig,
    DeviceMode,
    DeviceSection,
    FeedbackSection,
    SyncSection,
    TapSection,
    load_config,
    render_config,
)
from device.errors import ConfigError, DeviceError
from hardware.feedback.gpio import GpioPins
from hardware.feedback.timings import FeedbackTimings

EXAMPLE = """\
[device]
id = 1201                 # device id, 1..2**32-1
mode = "bus"              # bus | bike | ev
operator = 1              # 0..255
location = 12
reader = "sim:/var/lib/citizencard/card.mfd"
keys = "/etc/citizencard/validator.keys"
data_dir = "/var/lib/citizencard"
timezone = "Europe/Madrid"
[tap]
card_timeout = 5.0
remove_timeout = 10.0
[feedback]
backend = "console"
[feedback.timings]
led_hold = 2
[feedback.pins]
buzzer = 5
[fares]
currency = "EUR"
[fares.single]
general = 150
child = 0
"""

MINIMAL = """\
[device]
id = 7
mode = "bike"
operator = 3
location = 40
reader = "pcsc:"
keys = "/etc/citizencard/validator.keys"
timezone = "UTC"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> DeviceConfig:
    return load_config(write(tmp_path, text), environ=environ or {})


def test_the_example_loads_typed(tmp_path: Path) -> None:
    config = load(tmp_path, EXAMPLE)
    assert config.device == DeviceSection(
        id=1201, mode=DeviceMode.BUS, operator=1, location=12, reader="sim:/var/lib/citizencard/card.mfd",
        keys=Path("/etc/citizencard/validator.keys"), data_dir=Path("/var/lib/citizencard"),
        timezone=ZoneInfo("Europe/Madrid"),
    )
    assert config.tap == TapSection(5.0, 10.0)
    assert config.feedback == FeedbackSection("console", FeedbackTimings(led_hold=2.0), GpioPins(buzzer=5))
    assert config.fares == {"currency": "EUR", "single": {"general": 150, "child": 0}}
    assert config.source == tmp_path / "config.toml"
    assert config.overrides == ()


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    assert config.device.data_dir == Path("/var/lib/citizencard")
    assert config.device.mode == "bike"
    assert config.tap == TapSection()
    assert config.feedback == FeedbackSection()
    assert config.fares == {}


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    text = MINIMAL.replace('"pcsc:"', '"sim:cards/one.mfd?tear_after=3"').replace(
        '"/etc/citizencard/validator.keys"', '"validator.keys"') + 'data_dir = "../var"\n'
    path = write(etc, text)
    monkeypatch.chdir(tmp_path)  # elsewhere than the file: must not matter
    config = load_config(Path("etc") / "config.toml", environ={"CITIZENCARD_DEVICE_KEYS": "other.keys"})
    assert config.device.keys == etc / "other.keys"
    assert config.device.data_dir == etc / "../var"
    assert config.device.reader == f"sim:{etc}/cards/one.mfd?tear_after=3"
    assert config.source == Path("etc/config.toml")
    assert path.exists()


def test_non_file_reader_targets_are_kept(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL.replace('"pcsc:"', '"pn532:/dev/ttyS0"'))
    assert config.device.reader == "pn532:/dev/ttyS0"


# -- environment overrides ---------------------------------------------------


def test_overrides_are_read_as_the_keys_type(tmp_path: Path) -> None:
    config = load(tmp_path, EXAMPLE, {
        "CITIZENCARD_DEVICE_ID": "1202",
        "CITIZENCARD_DEVICE_READER": "pcsc:ACR122",
        "CITIZENCARD_DEVICE_MODE": "ev",
        "CITIZENCARD_TAP_CARD_TIMEOUT": "2.5",
        "CITIZENCARD_FEEDBACK_BACKEND": "mock",
        "CITIZENCARD_FEEDBACK_TIMINGS_DENIED_BEEPS": "4",
        "CITIZENCARD_FEEDBACK_PINS_RED_LED": "23",
        "CITIZENCARD_FEEDBACK": "gpio",  # the CLI tools' variable, not an override
        "HOME": "/root",
    })
    assert config.device.id == 1202
    assert config.device.reader == "pcsc:ACR122"
    assert config.device.mode is DeviceMode.EV
    assert config.tap.card_timeout == 2.5
    assert config.feedback.backend == "mock"
    assert config.feedback.timings == FeedbackTimings(led_hold=2.0, denied_beeps=4)
    assert config.feedback.pins == GpioPins(buzzer=5, red_led=23)
    assert config.overrides == tuple(sorted((
        "CITIZENCARD_DEVICE_ID", "CITIZENCARD_DEVICE_READER", "CITIZENCARD_DEVICE_MODE",
        "CITIZENCARD_TAP_CARD_TIMEOUT", "CITIZENCARD_FEEDBACK_BACKEND", "CITIZENCARD_FEEDBACK_TIMINGS_DENIED_BEEPS",
        "CITIZENCARD_FEEDBACK_PINS_RED_LED",
    )))


def test_an_override_can_supply_a_required_key_and_a_missing_table(tmp_path: Path) -> None:
    text = MINIMAL.replace("id = 7\n", "")
    config = load(tmp_path, text, {"CITIZENCARD_DEVICE_ID": "9", "CITIZENCARD_FEEDBACK_TIMINGS_LED_HOLD": "1"})
    assert config.device.id == 9
    assert config.feedback.timings.led_hold == 1.0


def test_an_empty_override_counts_as_unset(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL, {"CITIZENCARD_DEVICE_ID": " "}).device.id == 7


def test_overrides_use_the_os_environment_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITIZENCARD_DEVICE_LOCATION", "41")
    assert load_config(write(tmp_path, MINIMAL)).device.location == 41


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CITIZENCARD_DEVICE_COLOUR": "red"}, "CITIZENCARD_DEVICE_COLOUR: names no key"),
        ({"CITIZENCARD_TAP_CARD_TIMOUT": "2"}, "CITIZENCARD_TAP_CARD_TIMOUT: names no key"),
        ({"CITIZENCARD_FEEDBACK_TIMINGS_LED": "2"}, "CITIZENCARD_FEEDBACK_TIMINGS_LED: names no key"),
        ({"CITIZENCARD_FARES_SINGLE": "1"}, r"CITIZENCARD_FARES_SINGLE: \[fares\] cannot be overridden"),
        ({"CITIZENCARD_DEVICE_ID": "12x"},
         r"\[device\] id \(from CITIZENCARD_DEVICE_ID\): '12x' is not an integer"),
        ({"CITIZENCARD_DEVICE_ID": "0"}, r"\[device\] id \(from CITIZENCARD_DEVICE_ID\): 0 is outside 1..4294967295"),
        ({"CITIZENCARD_TAP_CARD_TIMEOUT": "fast"},
         r"\[tap\] card_timeout \(from CITIZENCARD_TAP_CARD_TIMEOUT\): 'fast' is not a number"),
        ({"CITIZENCARD_DEVICE_MODE": "tram"},
         r"\[device\] mode \(from CITIZENCARD_DEVICE_MODE\): 'tram' is not one of bus, bike, ev"),
        ({"CITIZENCARD_FEEDBACK_TIMINGS_LED_HOLD": "1500"},
         r"\[feedback.timings\] led_hold = 1500.0 is outside .* "
         r"\(overridden by CITIZENCARD_FEEDBACK_TIMINGS_LED_HOLD\)"),
    ],
)
def test_bad_overrides_are_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path / 'config.toml'))}: {message}"):
        load(tmp_path, MINIMAL, environ)


# -- errors -------------------------------------------------------------------


def test_the_brief_message_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MINIMAL.replace('"bike"', '"tram"'))
    with pytest.raises(ConfigError) as caught:
        load_config("config.toml", environ={})
    assert str(caught.value) == "config.toml: [device] mode: 'tram' is not one of bus, bike, ev"
    assert isinstance(caught.value, DeviceError) and isinstance(caught.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found.*citizencard validator init"):
        load_config(tmp_path / "nope.toml", environ={})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path, environ={})  # a directory


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.toml: not valid TOML: .*line 3") as caught:
        load(tmp_path, "[device]\nid = 1\nmode bus\n")
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "[display]\nlines = 2\n",
         r"\[display\]: unknown table \(known: device, tap, feedback, sync, fares\)"),
        (lambda t: "colour = 1\n" + t, r"\[colour\]: unknown table"),
        (lambda t: t.replace("operator = 3", "operater = 3"), r"\[device\] operater: unknown key \(known: id, mode"),
        (lambda t: t + "[tap]\ncard_timeout = 5\nwait = 1\n", r"\[tap\] wait: unknown key"),
        (lambda t: t + "[feedback]\nbackend = 'gpio'\ncolour = 1\n",
         r"\[feedback\] colour: unknown key \(known: backend, timings, pins\)"),
        (lambda t: t + "[feedback.timings]\nled = 1\n", r"\[feedback.timings\] led: unknown key"),
        (lambda t: "tap = 5\n" + t, r"\[tap\]: must be a table, got an integer"),
        (lambda t: t + "[feedback]\ntimings = 'fast'\n", r"\[feedback.timings\]: must be a table, got a string"),
        (lambda t: "fares = [1, 2]\n" + t, r"\[fares\]: must be a table, got an array"),
        (lambda t: t.replace("id = 7\n", ""), r"\[device\] id: missing; required .*CITIZENCARD_DEVICE_ID"),
        (lambda t: t.replace("id = 7", "id = '7'"), r"\[device\] id: '7' is not an integer"),
        (lambda t: t.replace("id = 7", "id = true"), r"\[device\] id: True is not an integer"),
        (lambda t: t.replace("id = 7", "id = 4294967296"), r"\[device\] id: 4294967296 is outside 1..4294967295"),
        (lambda t: t.replace("operator = 3", "operator = 256"), r"\[device\] operator: 256 is outside 0..255"),
        (lambda t: t.replace("location = 40", "location = -1"), r"\[device\] location: -1 is outside 0..65535"),
        (lambda t: t.replace('"bike"', "1"), r"\[device\] mode: 1 is not a string"),
        (lambda t: t.replace('"pcsc:"', '"usb:0"'), r"\[device\] reader: unknown reader scheme 'usb'"),
        (lambda t: t.replace('"pcsc:"', '"sim:"'), r"\[device\] reader: reader URI 'sim:' names no target"),
        (lambda t: t.replace('"pcsc:"', '"sim:x?tear_after"'), r"\[device\] reader: .*not NAME=VALUE"),
        (lambda t: t.replace('"pcsc:"', '""'), r"\[device\] reader: must not be empty"),
        (lambda t: t.replace('"UTC"', '"Europe/Gijon"'),
         r"\[device\] timezone: 'Europe/Gijon' is not a known time zone"),
        (lambda t: t.replace('"UTC"', '"../../etc/passwd"'), r"\[device\] timezone: .* is not a known time zone"),
        (lambda t: t.replace('"UTC"', '"Europe"'), r"\[device\] timezone: 'Europe' is not a known time zone"),
        (lambda t: t.replace('"UTC"', '"zone.tab"'), r"\[device\] timezone: 'zone.tab' is not a known time zone"),
        (lambda t: t + "[tap]\ncard_timeout = 0\n", r"\[tap\] card_timeout: 0 is outside \(0, 600\] seconds"),
        (lambda t: t + "[tap]\nremove_timeout = 10000\n",
         r"\[tap\] remove_timeout: 10000 is outside \(0, 600\] seconds \(seconds, not milliseconds\)"),
        (lambda t: t + "[tap]\ncard_timeout = nan\n", r"\[tap\] card_timeout: nan is not a number of seconds"),
        (lambda t: t + "[feedback]\nbackend = 'lcd'\n",
         r"\[feedback\] backend: 'lcd' is not one of console, gpio, mock"),
        (lambda t: t + "[feedback.timings]\ndenied_beeps = 11\n",
         r"\[feedback.timings\] denied_beeps = 11 is outside 1..10"),
        (lambda t: t + "[feedback.pins]\nred_led = 17\n", r"\[feedback.pins\] buzzer and red_led are both on GPIO17"),
        (lambda t: t + "[feedback.pins]\nbuzzer = 40\n", r"\[feedback.pins\] buzzer must be a BCM GPIO number"),
    ],
)
def test_bad_files_are_refused_naming_the_key(tmp_path: Path, edit: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path / 'config.toml'))}: {message}"):
        load(tmp_path, edit(MINIMAL))


def test_feedback_errors_keep_their_cause(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, MINIMAL + "[feedback.pins]\nbuzzer = 40\n")
    assert type(caught.value.__cause__).__name__ == "FeedbackConfigError"


# -- render -> load -----------------------------------------------------------

FARES: dict[str, Any] = {
    "currency": "EUR",
    "single": {"general": 150, "child": 0, "senior": 75},
    "transfer": {"window_minutes": 60, "max": 2, "free": True},
    "caps": {"day": 400, "month": 4000},
    "zones": [{"name": "A", "lines": [1, 2, 12]}, {"name": "B \"outer\"", "lines": []}],
    "discount rate": 0.5,
}


def render(**changes: Any) -> str:
    values: dict[str, Any] = dict(device_id=1201, mode="bus", operator=1, location=12,
                                  reader="sim:card.mfd", keys="validator.keys", timezone="Europe/Madrid")
    values.update(changes)
    return render_config(**values)


def test_render_then_load(tmp_path: Path) -> None:
    text = render(
        data_dir="data", card_timeout=2.5, remove_timeout=8, feedback_backend="gpio",
        timings=FeedbackTimings(denied_beeps=5), pins=GpioPins(buzzer=4), fares=FARES,
    )
    assert text.startswith("# citizencard field device configuration")
    assert "# device id, 1..4294967295" in text
    config = load(tmp_path, text)
    assert config == DeviceConfig(
        device=DeviceSection(
            id=1201, mode=DeviceMode.BUS, operator=1, location=12, reader=f"sim:{tmp_path}/card.mfd",
            keys=tmp_path / "validator.keys", data_dir=tmp_path / "data", timezone=ZoneInfo("Europe/Madrid"),
        ),
        tap=TapSection(2.5, 8.0),
        feedback=FeedbackSection("gpio", FeedbackTimings(denied_beeps=5), GpioPins(buzzer=4)),
        fares=FARES,
        source=tmp_path / "config.toml",
        sync=SyncSection(signing_key=tmp_path / "sync.key", server_key=tmp_path / "server.pub"),
    )


def test_render_writes_every_key(tmp_path: Path) -> None:
    text = render()
    for setting in SETTINGS:
        assert f"\n{setting.key} = " in text, setting.name
    assert load(tmp_path, text).fares == {}


@given(
    device_id=st.integers(1, 2**32 - 1),
    mode=st.sampled_from(list(DeviceMode)),
    operator=st.integers(0, 255),
    location=st.integers(0, 65535),
    card_timeout=st.floats(0.001, 600),
    remove_timeout=st.integers(1, 600),
    backend=st.sampled_from(["console", "gpio", "mock"]),
    zone=st.sampled_from(["UTC", "Europe/Madrid", "America/Argentina/Buenos_Aires"]),
    keys=st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=20).filter(
        lambda s: s.strip() and s not in (".", "..")),
)
def test_render_load_round_trip(
    tmp_path_factory: pytest.TempPathFactory, device_id: int, mode: DeviceMode, operator: int, location: int,
    card_timeout: float, remove_timeout: int, backend: str, zone: str, keys: str,
) -> None:
    directory = tmp_path_factory.mktemp("cfg")
    text = render(device_id=device_id, mode=mode, operator=operator, location=location, keys=keys,
                  card_timeout=card_timeout, remove_timeout=remove_timeout, feedback_backend=backend, timezone=zone)
    config = load(directory, text)
    assert (config.device.id, config.device.mode, config.device.operator, config.device.location) == (
        device_id, mode, operator, location)
    assert config.device.keys == directory / keys
    assert config.device.timezone == ZoneInfo(zone)
    assert config.tap == TapSection(card_timeout, float(remove_timeout))
    assert config.feedback.backend == backend


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "tram"}, r"^render_config: \[device\] mode: 'tram' is not one of bus, bike, ev"),
        ({"device_id": 0}, r"^render_config: \[device\] id: 0 is outside"),
        ({"reader": "usb:0"}, r"^render_config: \[device\] reader: unknown reader scheme"),
        ({"timezone": "Nowhere"}, r"^render_config: \[device\] timezone: 'Nowhere' is not a known time zone"),
        ({"card_timeout": -1}, r"^render_config: \[tap\] card_timeout: -1 is outside"),
        ({"fares": {"single": {"general": None}}}, r"^render_config: fares.single.general: NoneType None has no TOML"),
        ({"fares": {1: 2}}, r"^render_config: fares: key 1 is not a string"),
    ],
)
def test_render_refuses_what_load_would(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render(**changes)


# -- [sync] -------------------------------------------------------------------------------------------

TLS_SYNC = """
[sync]
broker = "sync.city.example"
ca = "pki/ca.crt"
cert = "pki/7.crt"
key = "pki/7.key"
signing_key = "/etc/citizencard/sync.key"
batch_size = 500
window = 8
heartbeat = 15
ack_timeout = 5.5
reconnect_min = 1
reconnect_max = 120
retention = 30
"""


def test_sync_defaults_without_a_table(tmp_path: Path) -> None:
    sync = load(tmp_path, MINIMAL).sync
    assert sync == SyncSection(broker="127.0.0.1", port=1883, signing_key=tmp_path / "sync.key",
                               server_key=tmp_path / "server.pub")
    assert not sync.tls
    assert sync.retention == 7.0  # days


def test_sync_keys_parse_and_paths_resolve(tmp_path: Path) -> None:
    sync = load(tmp_path, MINIMAL + TLS_SYNC).sync
    assert sync == SyncSection(
        broker="sync.city.example", port=8883, ca=tmp_path / "pki/ca.crt", cert=tmp_path / "pki/7.crt",
        key=tmp_path / "pki/7.key", signing_key=Path("/etc/citizencard/sync.key"),
        server_key=tmp_path / "server.pub", batch_size=500, window=8, heartbeat=15.0, ack_timeout=5.5,
        reconnect_min=1.0, reconnect_max=120.0, retention=30.0,
    )
    assert sync.tls
    assert load(tmp_path, MINIMAL + TLS_SYNC + "port = 18883\n").sync.port == 18883


def test_sync_environment_overrides(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL, environ={
        "CITIZENCARD_SYNC_PORT": "1884", "CITIZENCARD_SYNC_BATCH_SIZE": "50", "CITIZENCARD_SYNC_ACK_TIMEOUT": "0.5",
        "CITIZENCARD_SYNC_BROKER": "::1", "CITIZENCARD_SYNC_SERVER_KEY": "keys/server.pub",
        "CITIZENCARD_SYNC_RETENTION": "0.5"})
    assert (config.sync.port, config.sync.batch_size, config.sync.ack_timeout) == (1884, 50, 0.5)
    assert config.sync.retention == 0.5
    assert config.sync.broker == "::1" and config.sync.server_key == tmp_path / "keys/server.pub"
    assert "CITIZENCARD_SYNC_PORT" in config.overrides
    with pytest.raises(ConfigError, match=r"CITIZENCARD_SYNC_WINDOWS: names no key"):
        load(tmp_path, MINIMAL, environ={"CITIZENCARD_SYNC_WINDOWS": "2"})
    with pytest.raises(ConfigError, match=r"\[sync\] broker \(from CITIZENCARD_SYNC_BROKER\): plain TCP"):
        load(tmp_path, MINIMAL, environ={"CITIZENCARD_SYNC_BROKER": "10.0.0.5"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"])
def test_plain_tcp_to_this_machine_is_allowed(tmp_path: Path, host: str) -> None:
    assert load(tmp_path, MINIMAL + f"[sync]\nbroker = {host!r}\n").sync.broker == host


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('broker = "10.0.0.5"', r"\[sync\] broker: plain TCP \(no \[sync\] ca\) is allowed only to a broker on this "
                                r"machine .*not '10.0.0.5': set ca, cert and key"),
        ('broker = "sync.city.example"', r"\[sync\] broker: plain TCP .*'sync.city.example'"),
        ('broker = "localhost.evil.example"', r"\[sync\] broker: plain TCP"),
        ('broker = "a b"', r"\[sync\] broker: 'a b' is not a host name"),
        ('ca = "ca.crt"', r"\[sync\] cert: missing: TLS needs this device's client certificate"),
        ('ca = "ca.crt"\ncert = "7.crt"', r"\[sync\] key: missing: \[sync\] cert is given"),
        ('cert = "7.crt"\nkey = "7.key"', r"\[sync\] ca: missing: a client certificate is for TLS"),
        ("port = 70000", r"\[sync\] port: 70000 is outside 0..65535"),
        ("batch_size = 501", r"\[sync\] batch_size: 501 is outside 1..500"),
        ("batch_size = 0", r"\[sync\] batch_size: 0 is outside 1..500"),
        ("window = 0", r"\[sync\] window: 0 is outside 1..64"),
        ("heartbeat = 0", r"\[sync\] heartbeat: 0 is outside \(0, 3600\] seconds"),
        ("retention = 0", r"\[sync\] retention: 0 is outside \(0, 3650\] days"),
        ("retention = 7300", r"\[sync\] retention: 7300 is outside \(0, 3650\] days"),
        ('retention = "7d"', r"\[sync\] retention: '7d' is not a number of days"),
        ("reconnect_min = 10\nreconnect_max = 5", r"\[sync\] reconnect_min: 10 is above reconnect_max \(5\)"),
        ("ca = 1", r"\[sync\] ca: 1 is not a string"),
        ('signing_key = ""', r"\[sync\] signing_key: must not be empty"),
        ("retries = 3", r"\[sync\] retries: unknown key \(known: broker, port"),
    ],
)
def test_bad_sync_tables_are_refused(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path / 'config.toml'))}: {message}"):
        load(tmp_path, MINIMAL + "[sync]\n" + table + "\n")


def test_render_writes_the_sync_table(tmp_path: Path) -> None:
    text = render(sync={"port": 18830, "batch_size": 20})
    assert "\n[sync]\n" in text
    sync = load(tmp_path, text).sync
    assert (sync.port, sync.batch_size, sync.window) == (18830, 20, 4)
    with pytest.raises(ConfigError, match=r"^render_config: \[sync\] retries: unknown key"):
        render(sync={"retries": 3})
    with pytest.raises(ConfigError, match=r"^render_config: \[sync\] broker: plain TCP"):
        render(sync={"broker": "10.1.2.3"})
