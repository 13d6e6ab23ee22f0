"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary
directory, a server on a free 127.0.0.1 port with its socket in that
directory, torn down (``pg_ctl stop -m immediate``) and deleted afterwards.
The machine's own cluster (port 5432) is never touched.

Speed over safety, since the data is thrown away: ``fsync=off``,
``synchronous_commit=off``, ``full_page_writes=off``. Authentication is
``trust`` for the ``postgres`` superuser, reachable only from 127.0.0.1 and
the private socket.

PostgreSQL refuses to run as root: as root, ``initdb``, ``pg_ctl`` and the
server run as the ``postgres`` system user (``runuser -u postgres --``), and
the directory (under the system temporary directory, which that user can
reach) is given to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Self

START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections
_SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (or cannot be run)."""


def find_bindir() -> Path:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``.

    :raises PostgresUnavailable: when no installation is found.
    """
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    # Debian installs the server outside PATH, one directory per major version: the newest first.
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Postgres:
    """A private PostgreSQL server; :meth:`start` it, :meth:`stop` it (or use ``with``).

    :param bindir: where ``initdb``/``pg_ctl`` are; found by :func:`find_bindir` by default.
    """

    def __init__(self, *, bindir: Path | None = None) -> None:
        self.bindir = bindir
        self.port: int | None = None
        self.dir: Path | None = None
        self._as_user: list[str] = []

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        assert self.port is not None, "not started"
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> Self:
        """Create the cluster and start the server.

        :raises PostgresUnavailable: when the binaries are missing.
        :raises RuntimeError: when initdb or the server fail (the log is in the message).
        """
        bindir = self.bindir = self.bindir or find_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="citizencard-pg-"))
        try:
            if os.geteuid() == 0:
                user = pwd.getpwnam(_SERVER_USER)
                os.chown(self.dir, user.pw_uid, user.pw_gid)
                self._as_user = ["runuser", "-u", _SERVER_USER, "--"]
            self._run(str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
            for attempt in range(3):  # the free port may be taken between the probe and the bind
                self.port = _free_port()
                options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                           "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
                result = self._run(str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                                   "-o", options, "-w", "-t", str(START_TIMEOUT), "start", check=attempt == 2)
                if result.returncode == 0:
                    break
        except BaseException:
            self._remove()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: the data is thrown away) and delete the directory."""
        if self.dir is None:
            return
        if self.port is not None and (self.data_dir / "postmaster.pid").exists():
            assert self.bindir is not None
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop",
                      check=False)
        self._remove()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self._as_user, *argv], capture_output=True, text=True, check=False,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            log = self.log_path.read_text() if self.dir and self.log_path.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}\n{log}")
        return result

    def _remove(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.port = None
