"""`citizencard card issue --server`: the issuance point asks a real back
office (the Flask app behind werkzeug's HTTP server on a free port) what to
write on the blank, personalises it with exactly that, and retries safely."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from sync_server.web import create_app
from sync_server.web.extensions import database

Run = Callable[..., Result]


@dataclass
class Office:
    url: str
    app: Flask
    client: FlaskClient
    office: dict[str, str]
    point_token: str
    _keys: Iterator[int] = field(default_factory=itertools.count)

    def approved(self, **body: Any) -> int:
        headers = {**self.office, "Idempotency-Key": f"sale-{next(self._keys)}"}  # a prepaid balance moves money
        application = self.client.post("/api/v1/applications", headers=headers, json=body).json["id"]
        assert self.client.post(f"/api/v1/applications/{application}/approve", headers=self.office).status_code == 200
        return int(application)

    def card(self, card_number: int) -> dict[str, Any]:
        detail: dict[str, Any] = self.client.get(f"/api/v1/cards/{card_number}", headers=self.office).json
        return detail


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    app = create_app({"TESTING": True, "DATABASE": f"sqlite:///{tmp_path / 'office.sqlite3'}"})
    with app.app_context():
        staff = database.staff
        office_token = staff.issue_token(staff.add_user("ana", "card_office").id)
        point_token = staff.issue_token(staff.add_user("point-1", "issuance_point").id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="back-office", daemon=True)
    thread.start()
    try:
        yield Office(f"http://127.0.0.1:{server.server_port}", app, app.test_client(),
                     {"Authorization": f"Bearer {office_token}"}, point_token)
    finally:
        server.shutdown()
        thread.join(10)
        database.dispose(app)


def _issue(run: Run, office: Office, keys: Path, out: Path, application: int, *extra: str) -> Result:
    return run("card", "issue", "--server", office.url, "--token", office.point_token, "--application",
               application, "--keys", keys, "--out", out, *extra)


def _show(run: Run, dump: Path, keys: Path) -> dict[str, Any]:
    result = run("card", "show", dump, "--keys", keys, "--json")
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.output)
    assert shown["verified"] is True
    return shown


def test_a_card_is_personalised_with_what_the_server_assigned(run: Run, office: Office, keys_file: Path,
                                                             tmp_path: Path) -> None:
    holder = office.client.post("/api/v1/holders", headers=office.office, json={"name": "Marta"}).json["id"]
    application = office.approved(kind="new", holder_id=holder, profile="senior")
    dump = tmp_path / "marta.mfd"
    result = _issue(run, office, keys_file, dump, application, "--uid", "0A0B0C0D")
    assert result.exit_code == 0, result.output
    card = office.client.get("/api/v1/cards?uid=0A0B0C0D", headers=office.office).json["cards"][0]
    shown = _show(run, dump, keys_file)
    assert (shown["card_number"], shown["uid"], shown["kind"], shown["profile"], shown["holder"]) == (
        card["card_number"], "0A0B0C0D", "citizen", "senior", holder)
    assert (shown["expires"], shown["balance_cents"]) == (card["expires_on"], 0)
    assert shown["issued"] == dt.datetime.fromisoformat(card["issued_at"]).date().isoformat()

    # The technician's write failed: the same blank again gets the same card; another blank is refused.
    retry = _issue(run, office, keys_file, dump, application, "--uid", "0A0B0C0D", "--force")
    assert retry.exit_code == 0, retry.output
    assert _show(run, dump, keys_file)["card_number"] == card["card_number"]
    other = _issue(run, office, keys_file, tmp_path / "other.mfd", application, "--uid", "01020304")
    assert other.exit_code == 1 and "HTTP 409" in other.output and "issued as card" in other.output
    assert not (tmp_path / "other.mfd").exists()


def test_a_duplicate_carries_the_old_cards_balance_and_contracts(run: Run, office: Office, keys_file: Path,
                                                                 tmp_path: Path) -> None:
    holder = office.client.post("/api/v1/holders", headers=office.office, json={"name": "Luis"}).json["id"]
    first = _issue(run, office, keys_file, tmp_path / "old.mfd", office.approved(kind="new", holder_id=holder))
    assert first.exit_code == 0, first.output
    old = _show(run, tmp_path / "old.mfd", keys_file)["card_number"]
    sold = office.client.post(f"/api/v1/cards/{old}/contracts", headers=office.office, json={
        "kind": "transit_pass", "valid_from": dt.date.today().isoformat(),
        "valid_until": (dt.date.today() + dt.timedelta(days=30)).isoformat(), "operator": 1, "product": 30})
    assert sold.status_code == 201, sold.json
    report = office.client.post(f"/api/v1/cards/{old}/report-lost", headers=office.office,
                                json={"reason": "lost", "duplicate": True}).json
    application = report["application"]["id"]
    office.client.post(f"/api/v1/applications/{application}/approve", headers=office.office)
    result = _issue(run, office, keys_file, tmp_path / "new.mfd", application, "--json")
    assert result.exit_code == 0, result.output
    new = _show(run, tmp_path / "new.mfd", keys_file)
    assert new["card_number"] != old and new["holder"] == holder
    assert [(c["kind"], c["operator"], c["product"]) for c in new["contracts"]] == [("transit_pass", 1, 30)]
    assert office.card(old)["state"] == "replaced"
    assert office.card(new["card_number"])["replaces"] == old


def test_server_mode_refuses_what_the_server_decides_and_reports_its_errors(run: Run, office: Office,
                                                                           keys_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "card.mfd"
    application = office.approved(kind="tourist", balance_cents=1500)
    clash = _issue(run, office, keys_file, out, application, "--balance", "5")
    assert clash.exit_code == 2 and "balance" in clash.output
    partial = run("card", "issue", "--server", office.url, "--keys", keys_file, "--out", out)
    assert partial.exit_code == 2 and "--token" in partial.output
    wrong = run("card", "issue", "--server", office.url, "--token", "nope", "--application", application,
                "--keys", keys_file, "--out", out)
    assert wrong.exit_code == 1 and "HTTP 401" in wrong.output
    missing = _issue(run, office, keys_file, out, 999)
    assert missing.exit_code == 1 and "HTTP 404" in missing.output
    unreachable = run("card", "issue", "--server", "http://127.0.0.1:9", "--token", "t", "--application", 1,
                      "--keys", keys_file, "--out", out)
    assert unreachable.exit_code == 1 and "cannot get the card" in unreachable.output
    assert not out.exists()
    tourist = _issue(run, office, keys_file, out, application)
    assert tourist.exit_code == 0, tourist.output
    shown = _show(run, out, keys_file)
    assert (shown["kind"], shown["balance_cents"], shown["holder"]) == ("tourist", 1500, 0)
