"""The demo's back office: the operator and the services its devices run
(bus, bike, ev), the demo's staff user (``demo``, role admin, password
``citizencard-demo``) and :class:`WebServer`, the back office's Flask
application (API and staff pages) served by werkzeug in a thread of this
process, on the host and port asked (0: a free port)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from werkzeug.serving import BaseWSGIServer, make_server

from sync_server.audit import Actor
from sync_server.operators import Operators
from sync_server.registry.base import Registry
from sync_server.staff import Staff
from sync_server.web import create_app

from .fleet import MODES

DEMO_USER, DEMO_PASSWORD, DEMO_ROLE = "demo", "citizencard-demo", "admin"
OPERATOR_ID, OPERATOR_NAME = 1, "Gijón city services"
SERVICES = {"bus": "City buses", "bike": "Public bikes", "ev": "EV charging"}
ACTOR = Actor(DEMO_USER, DEMO_ROLE)
"""Who the demo's back-office actions are done as (the audit log shows them)."""


class WebServerError(Exception):
    """The back office's web server failed in its thread (the failure is the cause)."""


def set_up(registry: Registry) -> None:
    """Register the operator and the services of the demo's devices, and the demo's staff user.

    :raises SyncServerError: when the database fails (or they exist already).
    """
    engine = registry.store.engine
    operators = Operators(engine, registry.now)
    operators.add_operator(ACTOR, OPERATOR_ID, OPERATOR_NAME)
    for code in sorted({"bus", *MODES.values()}):
        operators.add_service(ACTOR, code, SERVICES[code])
    staff = Staff(engine, clock=registry.now)
    staff.add_user(DEMO_USER, DEMO_ROLE)
    staff.set_password(DEMO_USER, DEMO_PASSWORD)


class WebServer:
    """The back office of the server configuration ``config`` on
    ``host``:``port``, serving each request in a thread of its own, until
    :meth:`stop`.

    :raises OSError: (from :meth:`start`) when the address cannot be bound.
    :raises SyncServerError: (from :meth:`start`) when the configuration cannot be used.
    """

    def __init__(self, config: Path, host: str, port: int) -> None:
        self.config = config
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        app = create_app(config_path=self.config)
        # bound here: werkzeug exits the process (SystemExit) when it finds the port taken
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.create_server((self.host, self.port), family=family) as listening:
            self._server = server = make_server(self.host, self.port, app, threaded=True, fd=listening.fileno())
        self.port = server.socket.getsockname()[1]

        def main() -> None:
            try:
                server.serve_forever(poll_interval=0.1)
            except BaseException as exc:  # kept for check(): a thread must not die silently
                self.failure = exc

        self._thread = threading.Thread(target=main, name="web", daemon=True)
        self._thread.start()
        return self

    def check(self) -> None:
        """:raises WebServerError: when the server's thread failed (its exception the cause)."""
        if self.failure is not None:
            raise WebServerError(f"the back office's web server failed: {self.failure}") from self.failure

    def stop(self) -> None:
        """Stop serving (requests under way finish) and close the socket. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
