"""The OpenAPI document describes exactly the app's routes under /api/v1,
their methods and the roles each view requires."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from sync_server.web import create_app
from sync_server.web.extensions import database

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE": f"sqlite:///{tmp_path / 'server.sqlite3'}"})
    yield app
    database.dispose(app)


def _openapi_path(rule: str) -> str:
    # Flask's <converter:name> is OpenAPI's {name}
    return "".join(f"{{{part.split(':')[-1]}}}" if i % 2 else part
                   for i, part in enumerate(rule.replace(">", "<").split("<")))


def test_every_route_is_documented_and_nothing_else(sqlite_app: Flask) -> None:
    document = sqlite_app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    routes = {(_openapi_path(rule.rule), method.lower())
              for rule in sqlite_app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in (rule.methods or set()) - IGNORED_METHODS}
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented
    assert len(routes) >= 4


def test_each_operation_names_the_roles_its_view_requires(sqlite_app: Flask) -> None:
    document = sqlite_app.test_client().get("/api/v1/openapi.json").json
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    for rule in sqlite_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = sqlite_app.view_functions[rule.endpoint]
        roles = getattr(view, "required_roles", None)
        for method in (rule.methods or set()) - IGNORED_METHODS:
            operation = document["paths"][_openapi_path(rule.rule)][method.lower()]
            if roles is None:
                assert operation["security"] == [], rule.rule
                assert "x-roles" not in operation
            else:
                assert operation["security"] == [{"bearerAuth": []}], rule.rule
                assert operation["x-roles"] == list(roles), rule.rule
                assert {"401", "403"} <= set(operation["responses"])


def test_every_reference_resolves(sqlite_app: Flask) -> None:
    document = sqlite_app.test_client().get("/api/v1/openapi.json").json

    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]


def test_docs_back_office_lists_every_operation_with_its_roles(sqlite_app: Flask) -> None:
    document = sqlite_app.test_client().get("/api/v1/openapi.json").json
    doc = (Path(__file__).resolve().parents[3] / "docs" / "back-office.md").read_text()
    listed = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in {"GET", "POST", "PATCH", "PUT", "DELETE"}:
            listed[(cells[0].lower(), cells[1].strip("`"))] = cells[2]
    expected = {(method, path): ", ".join(operation.get("x-roles", [])) or "none"
                for path, operations in document["paths"].items() for method, operation in operations.items()}
    assert listed == expected


def test_a_query_parameter_the_document_does_not_name_is_refused(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        member = database.staff.add_user("auditor-1", "auditor")
        token = database.staff.issue_token(member.id)
    client = sqlite_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    misspelt = client.get("/api/v1/transactions?carrd=42", headers=headers)  # would widen the pull to every card
    assert misspelt.status_code == 400
    assert misspelt.json["error"]["field"] == "carrd" and "card" in misspelt.json["error"]["message"]
    assert client.get("/api/v1/transactions?card=42", headers=headers).status_code == 200
    assert client.get("/api/v1/health?verbose=1").status_code == 400
