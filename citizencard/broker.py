"""A Mosquitto broker on this machine, as a child process, for the demo, the
benches and the tests: :class:`LocalBroker`.

With ``tls_pki`` (a directory from ``citizencard pki``: ``ca.crt``,
``broker.crt``, ``broker.key``) the configuration is the shipped one,
``deploy/mosquitto/citizencard.conf`` with its ACL, rewritten for a listener
on 127.0.0.1 and this broker's files: clients need a certificate of that CA,
and each device may publish only under its own topics. Without it, a plain
TCP listener on 127.0.0.1 with anonymous clients and no ACL, but the same
durable sessions and queue limits.

Persistence lives in ``workdir``, so :meth:`LocalBroker.restart` after
:meth:`LocalBroker.kill` (SIGKILL) finds the sessions and queued messages of
the last save: Mosquitto saves on a clean exit and every
``autosave_interval`` seconds (Mosquitto 2.0 checks about once a second, so
saves come every one to two seconds at best), so a fault test sets it low and
calls :meth:`LocalBroker.wait_for_save` before a kill. Its log goes to
``workdir/mosquitto.log``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
"""The shipped broker configuration and ACL (in a source checkout)."""

PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a child gets when its parent dies."""

START_TIMEOUT = 10.0
"""Seconds to wait for the broker to accept connections."""

_LIMITS = re.compile(r"^(max_queued_messages|max_queued_bytes|max_inflight_messages|max_packet_size|"
                     r"message_size_limit|persistent_client_expiration)\s", re.MULTILINE)


class BrokerError(Exception):
    """The broker cannot be started: Mosquitto is not installed, the shipped
    configuration or the certificates are missing, or it exited or did not
    listen in time (its log is quoted)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: a broker of a demo, test or bench is not
    left running when the process that started it is killed (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class LocalBroker:
    """Mosquitto on 127.0.0.1:``port`` (a free one when ``None``), its files
    in ``workdir``; TLS with the certificates of ``tls_pki`` when given.
    ``config_extra`` is appended to the generated configuration."""

    def __init__(self, workdir: Path, *, port: int | None = None, tls_pki: Path | None = None,
                 config_extra: str = "", autosave_interval: int = 30, executable: str = "mosquitto") -> None:
        self.workdir = Path(workdir)
        self.port = port if port is not None else free_port()
        self.tls_pki = tls_pki
        self.config_extra = config_extra
        self.autosave_interval = autosave_interval
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls_pki else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def db_path(self) -> Path:
        """Mosquitto's persistence file."""
        return self.workdir / "mosquitto.db"

    def wait_for_save(self, timeout: float = 10.0) -> None:
        """Wait until Mosquitto next writes its persistence file (an autosave),
        so that what it holds now survives a :meth:`kill`.

        :raises BrokerError: when no save comes within ``timeout`` seconds.
        """
        def stamp() -> int | None:
            try:
                return self.db_path.stat().st_mtime_ns
            except FileNotFoundError:
                return None

        before = stamp()
        deadline = time.monotonic() + timeout
        while stamp() == before:
            if time.monotonic() > deadline:
                raise BrokerError(f"mosquitto did not save {self.db_path} within {timeout:g}s "
                                  f"(autosave_interval {self.autosave_interval})")
            time.sleep(0.02)

    def config_text(self) -> str:
        """The configuration this broker runs with.

        :raises BrokerError: when the shipped configuration or a certificate is missing.
        """
        persistence = [
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"autosave_interval {self.autosave_interval}",
        ]
        shipped = DEPLOY / "citizencard.conf"
        try:
            base = shipped.read_text()
        except OSError as exc:
            raise BrokerError(f"cannot read the shipped broker configuration {shipped}: {exc}") from exc
        if self.tls_pki is not None:
            for name in ("ca.crt", "broker.crt", "broker.key"):
                if not (self.tls_pki / name).is_file():
                    raise BrokerError(f"{self.tls_pki / name} is missing (citizencard pki init / pki broker)")
            text = base.replace("listener 8883", f"listener {self.port} 127.0.0.1")
            text = text.replace("/etc/mosquitto/citizencard/acl", str(DEPLOY / "acl"))
            text = text.replace("/etc/mosquitto/citizencard/", f"{self.tls_pki}/")
            text = re.sub(r"^(persistence|persistence_location|autosave_interval) .*\n", "", text, flags=re.MULTILINE)
            lines = [text.rstrip(), "", *persistence]
        else:
            lines = [
                "# citizencard LocalBroker: plain TCP on loopback, for tests and demos",
                "per_listener_settings false",
                "allow_anonymous true",
                f"listener {self.port} 127.0.0.1",
                "protocol mqtt",
                *persistence,
                # the shipped configuration's durable sessions and queue limits
                *(line for line in base.splitlines() if _LIMITS.match(line)),
            ]
        lines.append(f"log_dest file {self.log_path}")
        lines.append("log_type error\nlog_type warning\nlog_type notice\nlog_type information")
        if os.geteuid() == 0:
            lines.append("user root")  # as root Mosquitto drops to user mosquitto, who cannot write workdir
        if self.config_extra:
            lines.append(self.config_extra)
        return "\n".join(lines) + "\n"

    def start(self) -> Self:
        """Start the broker and wait until it accepts connections; a running one is left alone.

        :raises BrokerError: when Mosquitto is not installed, or it exits or
            does not listen within :data:`START_TIMEOUT` seconds.
        """
        if self.running:
            return self
        executable = shutil.which(self.executable)
        if executable is None:
            raise BrokerError(f"{self.executable} is not installed (apt-get install mosquitto; ./dev installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        stderr = (self.workdir / "mosquitto.stderr").open("ab")
        try:
            # A process group of its own: a terminal's Ctrl-C is for the parent, which stops the broker
            # itself once its clients have flushed; the parent-death signal covers the parent's end.
            self._process = subprocess.Popen([executable, "-c", str(self.config_path)], stdin=subprocess.DEVNULL,
                                             stdout=stderr, stderr=stderr, preexec_fn=_die_with_parent,
                                             process_group=0)
        finally:
            stderr.close()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if self._process.poll() is None:  # ours, not another process on a port taken meanwhile
                    return self
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._stop(signal.SIGKILL)
                raise BrokerError(f"mosquitto did not start on 127.0.0.1:{self.port}: {self._log_tail()}")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its state) and wait; SIGKILL if it hangs. Idempotent."""
        self._stop(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut: what was not saved yet is lost."""
        self._stop(signal.SIGKILL)

    def restart(self) -> Self:
        """Stop if running, then start again on the same port with the same persistence."""
        self.stop()
        return self.start()

    def _stop(self, signum: int, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self, lines: int = 10) -> str:
        text = ""
        for path in (self.workdir / "mosquitto.stderr", self.log_path):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")
        tail = text.strip().splitlines()[-lines:]
        return " | ".join(tail) if tail else "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalBroker({self.url}, {'running' if self.running else 'stopped'}, workdir={str(self.workdir)!r})"
