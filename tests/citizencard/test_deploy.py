"""The shipped systemd units (deploy/systemd/): each runs a real
``citizencard`` command with options it accepts, as the unprivileged user,
hardened, restarted for ever; the sync programs wait for the network; the
ingest template gives every instance its own MQTT client id; and, where
systemd-analyze is installed, systemd itself finds nothing to say about them."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from citizencard.cli import main
from sync_server.config import load_server_config

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNITS = ("citizencard-validator.service", "citizencard-agent.service", "citizencard-ingest.service",
         "citizencard-ingest@.service", "citizencard-web.service")
SYNC_UNITS = UNITS[1:]
EXECUTABLE = "/opt/citizencard/.venv/bin/citizencard"


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values (a key may repeat), comments left out."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in (SYSTEMD / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{name}: {line!r} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_every_unit_is_shipped_and_described() -> None:
    assert sorted(p.name for p in SYSTEMD.glob("*.service")) == sorted(UNITS)
    docs = Path(__file__).resolve().parents[2] / "docs"
    both = (docs / "deploy-pi.md").read_text() + (docs / "deploy-server.md").read_text()
    for name in UNITS:
        assert name in both, f"{name} is not in docs/deploy-pi.md or docs/deploy-server.md"


@pytest.mark.parametrize("name", UNITS)
def test_the_unit_runs_a_real_command_hardened(name: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == EXECUTABLE
    command: click.Command = main
    args = argv[1:]
    while isinstance(command, click.Group):
        command, args = command.commands[args[0]], args[1:]
    command.make_context(command.name, args)  # raises for an option the command does not take
    assert service["User"] == ["citizencard"] and service["Group"] == ["citizencard"]
    assert service["Restart"] == ["always"] and unit["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert service["KillSignal"] == ["SIGTERM"]
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
                       "NoNewPrivileges": "true", "ReadWritePaths": "/var/lib/citizencard",
                       "StateDirectory": "citizencard", "ConfigurationDirectory": "citizencard"}.items():
        assert service[key] == [value], f"{name}: {key}"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize("name", SYNC_UNITS)
def test_the_sync_programs_wait_for_the_network_and_touch_no_device(name: str) -> None:
    unit = _unit(name)
    assert "network-online.target" in unit["Unit"]["After"][0].split()
    assert unit["Unit"]["Wants"] == ["network-online.target"]
    assert unit["Service"]["PrivateDevices"] == ["true"] and "DeviceAllow" not in unit["Service"]


def test_the_agent_shares_the_validators_configuration() -> None:
    validator, agent = (shlex.split(_unit(n)["Service"]["ExecStart"][0]) for n in UNITS[:2])
    assert agent[1:2] == ["agent"]
    assert agent[agent.index("--config") + 1] == validator[validator.index("--config") + 1]


def test_each_ingest_instance_has_its_own_client_id(tmp_path: Path) -> None:
    environment = dict(line.split("=", 1) for line in _unit("citizencard-ingest@.service")["Service"]["Environment"])
    template = environment["CITIZENCARD_INGEST_CLIENT_ID"]
    assert "%i" in template
    (tmp_path / "server.toml").write_text("")
    ids = {load_server_config(tmp_path / "server.toml",
                              {"CITIZENCARD_INGEST_CLIENT_ID": template.replace("%H", "host").replace("%i", i)}
                              ).client_id for i in ("1", "2")}
    assert ids == {"ingest-host-1", "ingest-host-2"}
    single, instance = (_unit(n)["Service"] for n in ("citizencard-ingest.service", "citizencard-ingest@.service"))
    assert single["ExecStart"] == instance["ExecStart"]


def test_systemd_finds_nothing_to_say(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    files = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace(EXECUTABLE, sys.executable)  # systemd wants it to exist
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name.replace("@.", "@1.")))  # a template is checked through an instance
        Path(files[-1]).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=60,
                            check=False, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
