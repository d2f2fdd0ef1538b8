"""The live status behind the setup page: a watched tenant's requests, its IdP, and a diagnosis for each failure,
read through app.connection_status.status after real requests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app.connection_status import status
from scim import diagnoses
from scim.idps import ENTRA, OKTA
from storage import journal, tenants, tokens
from storage.db import make_sessionmaker
from storage.models import JournalEntry, Token, utcnow
from tests.conftest import make_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA_AGENT = "Okta SCIM Client 1.0.0"
ENTRA_AGENT = "Azure AD SCIM Provisioning"
JSON = "application/scim+json"


def watch(app: Flask, name: str = "acme", until: timedelta = timedelta(hours=1)) -> None:
    """Give the tenant a live setup link, as the setup page does."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenants.get_by_name(session, name).watch_until = utcnow() + until


def status_of(app: Flask, name: str = "acme") -> dict[str, Any]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return status(session, tenants.get_by_name(session, name).id)


def newest(app: Flask) -> dict[str, Any]:
    return status_of(app)["requests"][0]


def headers(token: str, agent: str = OKTA_AGENT, scheme: str = "Bearer ") -> dict[str, str]:
    return {"Authorization": f"{scheme}{token}", "User-Agent": agent, "Content-Type": JSON, "Accept": JSON}


def user(user_name: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER_URN], "userName": user_name, "active": True, **extra}


def assert_diagnosed(row: dict[str, Any], status_code: int, code: str, *words: str) -> None:
    assert row["status"] == status_code
    assert row["diagnosis"] is not None, row
    assert row["diagnosis"]["code"] == code
    for word in words:
        assert word in row["diagnosis"]["text"]


def test_waiting_until_the_connection_test_then_connected_with_the_idp(app: Flask, client: FlaskClient,
                                                                        token: str) -> None:
    watch(app)
    assert status_of(app) == {"state": "waiting", "idp": None, "requests": []}
    answer = client.get("/scim/v2/Users?startIndex=1&count=2", headers=headers(token))
    assert answer.status_code == 200
    shown = status_of(app)
    assert shown["state"] == "connected"
    assert shown["idp"] == OKTA
    assert shown["requests"] == [{"time": shown["requests"][0]["time"], "method": "GET",
                                  "path": "/scim/v2/Users?startIndex=1&count=2", "status": 200, "idp": OKTA,
                                  "diagnosis": None}]


def test_an_unwatched_tenant_is_not_journaled(app: Flask, client: FlaskClient, token: str) -> None:
    """Not a statement more: the journal is neither read nor written for it."""
    statements: list[str] = []
    event.listen(app.extensions["scim.engine"], "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 200
    assert client.post("/scim/v2/Users", json=user(), headers=headers(token)).status_code == 201
    assert client.get("/scim/v2/Users", headers=headers(token, scheme="")).status_code == 401
    watch(app, until=-timedelta(minutes=1))  # a setup link that has expired
    assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 200
    assert statements and not [statement for statement in statements if "request_journal" in statement]
    assert status_of(app)["state"] == "waiting"
    watch(app)
    assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 200
    assert [statement for statement in statements if "request_journal" in statement]


def test_a_token_without_bearer(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    assert client.get("/scim/v2/Users", headers=headers(token, scheme="")).status_code == 401
    shown = status_of(app)
    assert shown["state"] == "failing"
    assert_diagnosed(shown["requests"][0], 401, diagnoses.BEARER_MISSING, '"Bearer "')


def test_an_unknown_token_without_bearer_is_nobodys(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    assert client.get("/scim/v2/Users", headers=headers("scim_not-a-token", scheme="")).status_code == 401
    assert status_of(app)["requests"] == []


def test_a_base_url_without_scim_v2(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    assert client.get("/Users?startIndex=1&count=2", headers=headers(token)).status_code == 404
    row = newest(app)
    assert row["path"] == "/Users?startIndex=1&count=2"
    assert_diagnosed(row, 404, diagnoses.BASE_URL_WITHOUT_PREFIX, "/scim/v2")
    assert status_of(app)["state"] == "failing"


def test_a_base_url_with_scim_v2_twice(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 200
    assert client.get("/scim/v2/scim/v2/Users", headers=headers(token)).status_code == 404
    assert_diagnosed(newest(app), 404, diagnoses.BASE_URL_PREFIX_TWICE, "twice")
    assert status_of(app)["state"] == "failing"
    assert client.get("/scim/v2/Users/no-such-id", headers=headers(token)).status_code == 404
    assert newest(app)["diagnosis"] is None and status_of(app)["state"] == "connected"


def test_entra_without_its_flag(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    probe = '/scim/v2/Users?filter=userName eq "5e2b7cfa-6f3b-4b5e-9d1e-1f2a3b4c5d6e"'
    assert client.get(probe, headers=headers(token, ENTRA_AGENT)).status_code == 200
    row = newest(app)
    assert row["idp"] == ENTRA
    assert_diagnosed(row, 200, diagnoses.ENTRA_WITHOUT_FLAG, "?aadOptscim062020")
    assert client.get(probe + "&aadOptscim062020", headers=headers(token, ENTRA_AGENT)).status_code == 200
    assert newest(app)["diagnosis"] is None
    assert status_of(app)["idp"] == ENTRA


def test_entra_without_its_flag_by_its_legacy_patch(app: Flask, client: FlaskClient, token: str) -> None:
    """No telling User-Agent: the default dialect's capitalised ops and string booleans name Entra."""
    created = client.post("/scim/v2/Users", json=user(), headers=headers(token, "python-httpx"))
    watch(app)
    legacy = {"schemas": [PATCH_URN], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
    answer = client.patch(f"/scim/v2/Users/{created.get_json()['id']}", json=legacy,
                          headers=headers(token, "python-httpx"))
    assert answer.status_code == 200
    row = newest(app)
    assert row["idp"] == ENTRA
    assert_diagnosed(row, 200, diagnoses.ENTRA_WITHOUT_FLAG, "aadOptscim062020")


@pytest.mark.parametrize(("change", "code"), [("revoked_at", diagnoses.TOKEN_REVOKED),
                                               ("expires_at", diagnoses.TOKEN_EXPIRED)])
def test_a_revoked_or_expired_token(app: Flask, client: FlaskClient, token: str, change: str, code: str) -> None:
    watch(app)
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        row = session.scalar(select(Token).where(Token.secret_hash == tokens.hash_secret(token)))
        setattr(row, change, utcnow() - timedelta(minutes=1))
    assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 401
    assert_diagnosed(newest(app), 401, code, "new token")


@pytest.mark.parametrize(("agent", "advice"), [(OKTA_AGENT, "username format"),
                                                (ENTRA_AGENT, "userPrincipalName → userName")])
def test_a_duplicate_user_name_says_what_to_match_on(app: Flask, client: FlaskClient, token: str, agent: str,
                                                     advice: str) -> None:
    assert client.post("/scim/v2/Users", json=user(), headers=headers(token)).status_code == 201
    watch(app)
    assert client.post("/scim/v2/Users?aadOptscim062020", json=user("ANN@example.com"),
                       headers=headers(token, agent)).status_code == 409
    assert_diagnosed(newest(app), 409, diagnoses.DUPLICATE_USER_NAME, "already exists", advice)
    assert status_of(app)["state"] == "connected"  # the IdP got through: its write was refused


def test_a_required_attribute_the_mapping_does_not_send(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    answer = client.post("/scim/v2/Users", json={"schemas": [USER_URN], "active": True}, headers=headers(token))
    assert answer.status_code == 400
    assert_diagnosed(newest(app), 400, diagnoses.REQUIRED_ATTRIBUTE_MISSING, "lacks userName", "mapping")


def test_a_group_member_the_tenant_does_not_know(app: Flask, client: FlaskClient, token: str) -> None:
    known = client.post("/scim/v2/Users", json=user(), headers=headers(token)).get_json()["id"]
    watch(app)
    body = {"schemas": [GROUP_URN], "displayName": "Sales", "members": [{"value": known}, {"value": "00u-unknown"}]}
    assert client.post("/scim/v2/Groups", json=body, headers=headers(token)).status_code == 201
    assert_diagnosed(newest(app), 201, diagnoses.UNKNOWN_GROUP_MEMBER, "00u-unknown", "skipped")
    group = client.get("/scim/v2/Groups", headers=headers(token)).get_json()["Resources"][0]
    patch = {"schemas": [PATCH_URN], "Operations": [{"op": "add", "path": "members", "value": [{"value": "ghost"}]}]}
    assert client.patch(f"/scim/v2/Groups/{group['id']}", json=patch, headers=headers(token)).status_code == 204
    assert_diagnosed(newest(app), 204, diagnoses.UNKNOWN_GROUP_MEMBER, "ghost")


def test_the_journal_keeps_the_last_requests_of_each_tenant(app: Flask, client: FlaskClient, token: str) -> None:
    watch(app)
    other = make_token(app, "globex")
    watch(app, "globex")
    for index in range(journal.KEPT + 3):
        client.get(f"/scim/v2/Users?startIndex={index + 1}", headers=headers(token))
    client.get("/scim/v2/Groups", headers=headers(other, "JumpCloud"))
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        counts = dict(session.execute(select(JournalEntry.tenant_id, func.count())
                                      .group_by(JournalEntry.tenant_id)).all())
        acme = tenants.get_by_name(session, "acme").id
    assert sorted(counts.values()) == [1, journal.KEPT]
    assert newest(app)["path"] == f"/scim/v2/Users?startIndex={journal.KEPT + 3}"
    assert status_of(app, "globex")["idp"] == "JumpCloud"
    assert status_of(app)["idp"] == OKTA
    assert counts[acme] == journal.KEPT


def test_a_journal_that_cannot_be_written_fails_no_request(app: Flask, client: FlaskClient, token: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    watch(app)
    engine = app.extensions["scim.engine"]
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE request_journal RENAME TO request_journal_away")
    try:
        assert client.get("/scim/v2/Users", headers=headers(token)).status_code == 200
        assert client.post("/scim/v2/Users", json=user(), headers=headers(token)).status_code == 201
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE request_journal_away RENAME TO request_journal")
    assert "could not journal the request POST /scim/v2/Users (201)" in caplog.text
    assert client.get("/scim/v2/Users", headers=headers(token)).get_json()["totalResults"] == 1
