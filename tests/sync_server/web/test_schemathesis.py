"""The API against its own OpenAPI description, with schemathesis: for
requests generated from the document (valid and invalid), no answer is a
500, every answer matches what the document says of its status, content
type, headers and body, requests that break the document are refused, and
auth is never ignored. (Not "every schema-valid request succeeds": rules
across fields and query parameters — card number or UID, from before to —
are the code's, and OpenAPI cannot say all of them.) Each operation is called with a token of the first
role it names, over a database with a registered device, holder, card,
application and anomaly, so the success paths are reached too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from werkzeug.serving import make_server

from device import keystore
from sync_server.audit import Actor
from sync_server.registry import Registry, applications, holders
from sync_server.web import create_app
from sync_server.web.extensions import database
from sync_server.web.openapi import document
from tests.factories import masters
from tests.sync_server.builders import DEVICE_KEY, batch, write
from tests.sync_server.conftest import START, Clock

CARD = 7_000_000_001
ROLES = ("admin", "card_office", "operator", "finance", "auditor", "technician", "kiosk", "issuance_point")


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    directory = tmp_path_factory.mktemp("schemathesis")
    app = create_app({"TESTING": True, "DATABASE": f"sqlite:///{directory / 'server.sqlite3'}",
                      "CLOCK": Clock(START), "ISSUER_KEYS": keystore.save(directory / "issuer.keys", masters())})
    tokens = {}
    with app.app_context():
        staff, store = database.staff, database.store
        for role in ROLES:
            tokens[role] = staff.issue_token(staff.add_user(f"st-{role}", role).id)
        store.register_device(1, DEVICE_KEY, mode="bus", operator=7, location=40)
        store.register_device(2, DEVICE_KEY, mode="bus", operator=7, location=41)
        store.ingest([batch(1, write(1, CARD, 1, 850)), batch(2, write(1, CARD, 1, 850))])  # an anomaly
        registry = Registry(store, clock=store.now)
        actor = Actor("st-admin", "admin")
        holder = holders.create(registry, actor, name="Ana Pérez", document_id="12345678Z")
        applications.submit(registry, actor, kind="new", holder_id=holder.id, card_kind="citizen", profile="general")
    app.config["TOKENS"] = tokens
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="schemathesis-server", daemon=True)
    thread.start()
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(10)
        database.dispose(app)


# The document does not depend on the app's state: loaded once, at collection (schemathesis's lazy
# fixture loader does not run on pytest 9). The calls go over HTTP to the app of the fixture.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_keeps_to_its_description(case: Any, api_app: Flask) -> None:
    roles = case.operation.definition.raw.get("x-roles")
    headers = {"Authorization": f"Bearer {api_app.config['TOKENS'][roles[0]]}"} if roles else {}
    case.call_and_validate(base_url=api_app.config["BASE_URL"], headers=headers,
                           excluded_checks=[positive_data_acceptance])


def test_every_operation_is_exercised(api_app: Flask) -> None:
    served = api_app.test_client().get("/api/v1/openapi.json").json
    assert served == document()  # what schemathesis read is what the app serves
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in served["paths"].values()) >= 30
