"""A private pcscd, run as a child process, with vsmartcard's vpcd driver as
its only reader: the real PC/SC stack for tests, benchmarks and the demo.

:class:`Pcscd` writes a reader.conf.d directory naming the vpcd driver on a
free TCP port (vpcd's CHANNELID is the port; it serves two slots, "NAME 00 00"
on the port and "NAME 00 01" on the next one), starts ``pcscd -f -c DIR`` and
waits until the reader is listed. A :class:`~hardware.pcsc.vcard.VirtualCard`
then connects to :attr:`Pcscd.port` to put a card in that reader.

pcscd 1.9.9 listens on the hard-coded socket /run/pcscd/pcscd.comm, so one
pcscd runs per machine: a test session owns it (a session-scoped fixture).
A socket left by a killed pcscd is removed before starting; a live one (the
system's pcscd) is refused with a clear error. pcscd never gets ``-a``: it
would log the keys loaded with Load Authentication Keys.

:func:`system_pcscd_running` says whether some pcscd answers on the socket, for
commands that need the system's pcscd.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from hardware.errors import ReaderTimeoutError, ReaderUnavailableError

log = logging.getLogger(__name__)

RUN_DIR = Path("/run/pcscd")
COMM_SOCKET = RUN_DIR / "pcscd.comm"
PID_FILE = RUN_DIR / "pcscd.pid"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
FRIENDLY_NAME = "Virtual PCD"
READY_TIMEOUT = 10.0
_POLL = 0.02
_TEMP_PREFIX = "citizencard-pcscd-"


def system_pcscd_running(comm_socket: Path = COMM_SOCKET) -> bool:
    """Whether a pcscd (or the socket unit that starts it) answers on ``comm_socket``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(comm_socket))
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    """A TCP port free on every interface, with the next port free too (vpcd's second slot)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("", 0))
            port = first.getsockname()[1]
            if port >= 0xFFFF:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("", port + 1))
                except OSError:
                    continue
            return int(port)
    raise ReaderUnavailableError("no pair of free TCP ports for vpcd")


class Pcscd:
    """A pcscd child process serving one vpcd reader.

    :param port: vpcd's TCP port (also uses ``port + 1``); a free one by default.
    :param friendly_name: the reader's name before " 00 00".
    :param executable: the pcscd binary.
    :param ready_timeout: seconds :meth:`start` waits for the reader to be listed.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        friendly_name: str = FRIENDLY_NAME,
        executable: str = "pcscd",
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.port = port if port is not None else _free_port_pair()
        self.friendly_name = friendly_name
        self.executable = executable
        self.ready_timeout = ready_timeout
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def reader_name(self) -> str:
        """The PC/SC name of the reader on :attr:`port`."""
        return f"{self.friendly_name} 00 00"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """pcscd's output (error-level messages), for diagnostics."""
        return self._dir / "pcscd.log" if self._dir is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> Pcscd:
        """Start pcscd and wait until it lists :attr:`reader_name`.

        :raises ReaderUnavailableError: when another pcscd owns the socket, the
            vpcd driver or pcscd is missing, or pcscd exits during start-up.
        :raises ReaderTimeoutError: when the reader is not listed within ``ready_timeout``.
        """
        if self.running:
            return self
        if not VPCD_DRIVER.exists():
            raise ReaderUnavailableError(f"vpcd driver {VPCD_DRIVER} missing (apt-get install vsmartcard-vpcd)")
        binary = shutil.which(self.executable)
        if binary is None:
            raise ReaderUnavailableError(f"{self.executable} not found (apt-get install pcscd)")
        _claim_socket()
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX))
        conf = self._dir / "reader.conf.d"
        conf.mkdir(exist_ok=True)
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{self.friendly_name}"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
            f"CHANNELID 0x{self.port:04X}\n"
        )
        with open(self._dir / "pcscd.log", "ab") as output:
            self._process = subprocess.Popen(
                [binary, "--foreground", "--error", "--config", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("pcscd started (pid %d, vpcd port %d)", self._process.pid, self.port)
        try:
            self._wait_ready()
        except BaseException:
            self._kill(signal.SIGKILL)
            raise
        return self

    def restart(self) -> None:
        """Kill pcscd with SIGKILL, as a crash would, and start it again on the same port.

        :raises ReaderUnavailableError, ReaderTimeoutError: as :meth:`start`.
        """
        self._kill(signal.SIGKILL)
        self.start()

    def kill(self) -> None:
        """Kill pcscd with SIGKILL and leave it down (its stale socket stays, as after a crash)."""
        self._kill(signal.SIGKILL)

    def stop(self) -> None:
        """Stop pcscd (SIGTERM, then SIGKILL after 5 s) and remove its files. Idempotent."""
        self._kill(signal.SIGTERM)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Pcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------

    def _kill(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.info("pcscd (pid %d) ended with %s", process.pid, process.returncode)
        if signum == signal.SIGTERM and not system_pcscd_running():
            _remove_stale_files()

    def _wait_ready(self) -> None:
        from smartcard import scard

        deadline = time.monotonic() + self.ready_timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise ReaderUnavailableError(f"pcscd exited during start-up (code {code}): {self._log_tail()}")
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult == scard.SCARD_S_SUCCESS:
                try:
                    hresult, readers = scard.SCardListReaders(context, [])
                finally:
                    scard.SCardReleaseContext(context)
                if hresult == scard.SCARD_S_SUCCESS and self.reader_name in readers:
                    return
            if time.monotonic() >= deadline:
                raise ReaderTimeoutError(
                    f"pcscd did not list {self.reader_name!r} within {self.ready_timeout:g} s: {self._log_tail()}"
                )
            time.sleep(_POLL)

    def _log_tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "no output"
        lines = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"


def _claim_socket() -> None:
    """Make room for a new pcscd on the hard-coded socket, or refuse."""
    if system_pcscd_running():
        owner, pid = "", None
        with contextlib.suppress(OSError, ValueError):
            pid = int(PID_FILE.read_text().split("\0")[0])  # pcscd ends the file with a NUL
            owner = f" (pid {pid})"
        if pid is not None and _TEMP_PREFIX in _cmdline(pid):
            hint = f"it is a private pcscd of citizencard (another Pcscd, or left by a killed test run): kill {pid}"
        else:
            hint = "stop it (e.g. systemctl stop pcscd.socket pcscd) to run a private one"
        raise ReaderUnavailableError(
            f"another pcscd is running{owner} on {COMM_SOCKET}: pcscd 1.9.9 allows one per machine; {hint}"
        )
    _remove_stale_files()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _remove_stale_files() -> None:
    # Only called when nothing answers on the socket: a pcscd killed with
    # SIGKILL leaves both files, and a new pcscd refuses to start over them.
    for path in (COMM_SOCKET, PID_FILE):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
