"""The server's TOML configuration: defaults, paths relative to the file,
environment overrides, and a clear error naming the file, table and key for
anything wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_server.config import load_server_config
from sync_server.errors import ServerConfigError
from sync_server.reconciliation import Policy


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_empty_file_gives_the_defaults_relative_to_it(tmp_path: Path) -> None:
    config = load_server_config(_write(tmp_path, ""), environ={})
    assert config.database == f"sqlite:///{tmp_path / 'server.sqlite3'}"
    assert (config.signing_key, config.issuer_keys) == (tmp_path / "server.key", tmp_path / "issuer.keys")
    assert (config.broker.host, config.broker.port, config.broker.ca) == ("127.0.0.1", 8883, None)
    assert (config.group, config.list_poll) == (64, 0.2)
    assert config.policy == Policy()
    assert config.web.flask_config() == {"STAFF_SESSION_IDLE_MINUTES": 30, "STAFF_SESSION_LIFETIME_HOURS": 12,
                                         "STAFF_SECURE_COOKIES": False}
    assert config.policy.auto_block == {"counter_back", "balance_above_shadow", "repeated_counter",
                                        "integrity_failures", "replaced_card_used"}


def test_the_reconciliation_policy_is_read_and_overridable(tmp_path: Path) -> None:
    path = _write(tmp_path, '[reconciliation]\nauto_block = ["counter_back"]\nintegrity_failures = 5\n')
    assert load_server_config(path, environ={}).policy == Policy(frozenset({"counter_back"}), 5)
    assert load_server_config(_write(tmp_path, "[reconciliation]\nauto_block = []\n"), environ={}).policy \
        .auto_block == frozenset()
    overridden = load_server_config(path, environ={
        "CITIZENCARD_RECONCILIATION_AUTO_BLOCK": "repeated_counter, integrity_failures",
        "CITIZENCARD_RECONCILIATION_INTEGRITY_FAILURES": "2"})
    assert overridden.policy == Policy(frozenset({"repeated_counter", "integrity_failures"}), 2)


def test_the_staff_page_sessions_are_configurable(tmp_path: Path) -> None:
    path = _write(tmp_path, "[web]\nsession_idle_minutes = 10\nsecure_cookies = true\n")
    web = load_server_config(path, environ={"CITIZENCARD_WEB_SESSION_LIFETIME_HOURS": "8"}).web
    assert (web.session_idle_minutes, web.session_lifetime_hours, web.secure_cookies) == (10, 8, True)
    assert not load_server_config(path, environ={"CITIZENCARD_WEB_SECURE_COOKIES": "false"}).web.secure_cookies


@pytest.mark.parametrize(("text", "environ", "message"), [
    ("[web]\nsecure_cookies = \"yes\"\n", {}, r"\[web\] secure_cookies: 'yes' is not true or false"),
    ("[reconciliation]\nauto_block = [\"nonsense\"]\n", {}, r"\[reconciliation\] auto_block: unknown anomaly kinds"),
    ("[reconciliation]\nauto_block = \"counter_back,x\"\n", {}, r"\[reconciliation\] auto_block: unknown anomaly"),
    ("[reconciliation]\nauto_block = [1]\n", {}, r"\[reconciliation\] auto_block: .* not a list"),
    ("[reconciliation]\nintegrity_failures = 0\n", {}, r"\[reconciliation\] integrity_failures: 0 is not"),
    ("", {"CITIZENCARD_RECONCILIATION_INTEGRITY_FAILURES": "many"}, "CITIZENCARD_RECONCILIATION_INTEGRITY_FAILURES"),
    ("[reconciliation]\nblock_all = true\n", {}, r"\[reconciliation\] block_all: unknown key"),
    ("[nonsense]\n", {}, r"\[nonsense\]: unknown table"),
    ("[ingest]\ngroup = 0\n", {}, r"\[ingest\] group: 0 is not an integer"),
    ("[broker]\nhost = \"10.0.0.9\"\n", {}, r"\[broker\] ca: plain TCP"),
    ("[server\n", {}, "not valid TOML"),
])
def test_mistakes_name_the_file_table_and_key(tmp_path: Path, text: str, environ: dict[str, str],
                                              message: str) -> None:
    with pytest.raises(ServerConfigError, match=message) as raised:
        load_server_config(_write(tmp_path, text), environ=environ)
    assert str(tmp_path / "server.toml") in str(raised.value)


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match="citizencard server init"):
        load_server_config(tmp_path / "absent.toml", environ={})
