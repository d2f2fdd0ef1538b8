"""Traffic capture: off by default; started and stopped through the admin API and the CLI; each captured request
kept with its headers and bodies, secrets redacted, bodies capped; captured traffic expires."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update

from app import openapi
from app.cli import cli
from scim.capture import BODY_LIMIT
from scim.changes import REDACTED
from storage import admin_keys, tenants
from storage.db import make_sessionmaker
from storage.models import JournalEntry, utcnow
from tests.api.test_connection_status import PATCH_URN, headers, status_of, user, watch
from tests.api.test_foundation import assert_scim_error
from tests.api.test_openapi import check

CAPTURE = "/admin/v1/tenants/acme/capture"


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return {"Authorization": f"Bearer {admin_keys.issue(session, 'tests')[1]}"}


def captured(client: FlaskClient, admin: dict) -> list[dict]:
    answer = client.get(CAPTURE, headers=admin)
    assert answer.status_code == 200
    return answer.get_json()["requests"]


def test_capture_is_off_by_default(app: Flask, client: FlaskClient, token: str, admin: dict) -> None:
    watch(app)  # a live setup link journals requests, without their bodies
    assert client.post("/scim/v2/Users", json=user(password="Secret-1"), headers=headers(token)).status_code == 201
    assert len(status_of(app)["requests"]) == 1
    assert client.get(CAPTURE, headers=admin).get_json() == {"tenant": "acme", "capture_until": None, "requests": []}


def test_captured_requests_keep_headers_and_bodies_with_secrets_redacted(app: Flask, client: FlaskClient, token: str,
                                                                          admin: dict) -> None:
    started = client.post(CAPTURE + "?for=2h", headers=admin)
    assert started.status_code == 201
    assert started.get_json()["capture_until"] > utcnow().isoformat()[:19]
    created = client.post("/scim/v2/Users", json=user(password="Secret-1"), headers=headers(token))
    assert created.status_code == 201
    change = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "password", "value": "Secret-2"}]}
    user_id = created.get_json()["id"]
    assert client.patch(f"/scim/v2/Users/{user_id}", json=change, headers=headers(token)).status_code == 200
    assert client.get("/scim/v2/Users", headers=headers(token, scheme="")).status_code == 401

    refused, patched, posted = captured(client, admin)
    assert (posted["method"], posted["path"], posted["status"]) == ("POST", "/scim/v2/Users", 201)
    assert json.loads(posted["request"]["text"])["password"] == REDACTED
    assert json.loads(posted["request"]["text"])["userName"] == "ann@example.com"
    assert posted["request"]["headers"]["Authorization"] == f"Bearer {REDACTED}"
    assert json.loads(posted["response"]["text"])["id"] == user_id
    assert posted["response"]["headers"]["Location"].endswith(f"/Users/{user_id}")
    assert json.loads(patched["request"]["text"])["Operations"][0]["value"] == REDACTED
    assert refused["status"] == 401 and refused["request"]["headers"]["Authorization"] == REDACTED
    everything = json.dumps(captured(client, admin))
    assert "Secret-1" not in everything and "Secret-2" not in everything and token not in everything


def test_bodies_are_capped(app: Flask, client: FlaskClient, token: str, admin: dict) -> None:
    client.post(CAPTURE, headers=admin)
    big = user(displayName="x" * (BODY_LIMIT + 100))
    assert client.post("/scim/v2/Users", json=big, headers=headers(token)).status_code == 201
    kept = captured(client, admin)[0]
    assert kept["request"]["truncated"] is True
    assert len(kept["request"]["text"].encode()) == BODY_LIMIT
    assert kept["request"]["size"] > BODY_LIMIT


def test_a_capture_runs_at_most_a_day(app: Flask, client: FlaskClient, token: str, admin: dict) -> None:
    assert_scim_error(client.post(CAPTURE + "?for=25h", headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(CAPTURE + "?for=soon", headers=admin), 400, "invalidValue")
    assert_scim_error(client.post("/admin/v1/tenants/nobody/capture", headers=admin), 404)
    assert client.post(CAPTURE, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_stop_ends_it_and_a_new_capture_starts_empty(app: Flask, client: FlaskClient, token: str,
                                                      admin: dict) -> None:
    client.post(CAPTURE, headers=admin)
    client.get("/scim/v2/Users", headers=headers(token))
    assert client.delete(CAPTURE, headers=admin).get_json()["capture_until"] is None
    client.get("/scim/v2/Groups", headers=headers(token))
    assert [row["path"] for row in captured(client, admin)] == ["/scim/v2/Users"]
    client.post(CAPTURE, headers=admin)
    assert captured(client, admin) == []


def test_captured_traffic_expires(app: Flask, client: FlaskClient, runner: FlaskCliRunner, token: str,
                                  admin: dict) -> None:
    client.post(CAPTURE, headers=admin)
    client.get("/scim/v2/Users", headers=headers(token))
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(JournalEntry).values(occurred_at=utcnow() - timedelta(hours=25)))
    assert captured(client, admin) == []
    result = runner.invoke(cli, ["prune-events"])
    assert "1 captured requests older than 24 hours discarded" in result.output
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert session.query(JournalEntry).one().captured is None


def test_the_cli_starts_shows_and_stops_a_capture(app: Flask, client: FlaskClient, runner: FlaskCliRunner,
                                                 token: str) -> None:
    result = runner.invoke(cli, ["capture", "start", "--tenant", "acme", "--for", "90m"])
    assert result.exit_code == 0, result.output
    assert "capturing the traffic of tenant acme until" in result.output
    client.get("/scim/v2/Users?count=1", headers=headers(token))
    listing = runner.invoke(cli, ["capture", "show", "--tenant", "acme"])
    assert listing.output.splitlines()[1].endswith("\tGET\t200\t/scim/v2/Users?count=1")
    shown = json.loads(runner.invoke(cli, ["capture", "show", "--tenant", "acme", "--json"]).output)
    assert shown["capture_until"] is not None
    assert shown["requests"][0]["response"]["headers"]["Content-Type"] == "application/scim+json"
    assert runner.invoke(cli, ["capture", "stop", "--tenant", "acme"]).exit_code == 0
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert tenants.get_by_name(session, "acme").capture_until is None
    refused = runner.invoke(cli, ["capture", "start", "--tenant", "acme", "--for", "48h"])
    assert refused.exit_code != 0 and "24 hours" in refused.output


def test_a_body_over_the_size_limit_is_captured_by_its_size(app: Flask, client: FlaskClient, token: str,
                                                            admin: dict) -> None:
    client.post(CAPTURE, headers=admin)
    oversized = b'{"userName": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    assert client.post("/scim/v2/Users", data=oversized, headers=headers(token)).status_code == 413
    kept = captured(client, admin)[0]
    assert kept["status"] == 413
    assert kept["request"] == {"headers": kept["request"]["headers"], "text": "", "truncated": True,
                               "size": len(oversized)}


def test_the_capture_answers_match_the_openapi_document(app: Flask, client: FlaskClient, token: str,
                                                         admin: dict) -> None:
    document = openapi.document()
    path = "/admin/v1/tenants/{name}/capture"
    check(document, "POST", path, client.post(CAPTURE, headers=admin))
    client.post("/scim/v2/Users", json=user(password="Secret-1"), headers=headers(token))
    client.get("/scim/v2/Users", headers=headers(token, scheme=""))
    check(document, "GET", path, client.get(CAPTURE, headers=admin))
    check(document, "DELETE", path, client.delete(CAPTURE, headers=admin))
    check(document, "POST", path, client.post(CAPTURE + "?for=25h", headers=admin))
