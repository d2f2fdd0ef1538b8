"""Authentication, tenancy and error rendering over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from storage.db import make_sessionmaker
from storage.models import Token, utcnow
from tests.conftest import make_token

SPC = "/scim/v2/ServiceProviderConfig"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/scim+json"
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type
    return body


def test_a_valid_token_reads_the_service_provider_config(client: FlaskClient, auth: dict) -> None:
    response = client.get(SPC, headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "application/scim+json"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer scim_not-a-real-token", "Token abc", "non-token"],
)
def test_a_missing_malformed_or_unknown_token_is_a_scim_401(client: FlaskClient, token: str, header: str | None):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get(SPC, headers=headers)
    assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused_on_the_next_request(app: Flask, client: FlaskClient, auth: dict) -> None:
    assert client.get(SPC, headers=auth).status_code == 200
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(Token).values(revoked_at=utcnow()))
    assert_scim_error(client.get(SPC, headers=auth), 401)


def test_an_expired_token_is_refused(app: Flask, client: FlaskClient, auth: dict) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_scim_error(client.get(SPC, headers=auth), 401)


def test_the_secret_is_not_stored_only_its_hash(app: Flask, token: str) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        row = session.scalars(select(Token)).one()
    assert token not in (row.secret_hash, row.prefix, row.id, row.label)
    assert len(row.secret_hash) == 64 and token.startswith(row.prefix)


def test_last_used_is_recorded_once_not_on_every_request(app: Flask, client: FlaskClient, auth: dict) -> None:
    maker = make_sessionmaker(app.extensions["scim.engine"])
    with maker.begin() as session:
        assert session.scalars(select(Token.last_used_at)).one() is None
    client.get(SPC, headers=auth)
    with maker.begin() as session:
        first = session.scalars(select(Token.last_used_at)).one()
    assert first is not None
    client.get(SPC, headers=auth)
    with maker.begin() as session:
        assert session.scalars(select(Token.last_used_at)).one() == first


def test_each_token_resolves_to_its_own_tenant(app: Flask, client: FlaskClient) -> None:
    from app.auth import current_principal

    seen = {}
    for tenant in ("acme", "globex"):
        secret = make_token(app, tenant)
        with app.test_request_context(SPC, headers={"Authorization": f"Bearer {secret}"}):
            from app.auth import token_auth

            assert token_auth.authenticate(token_auth.get_auth(), None)
            seen[tenant] = current_principal().tenant_name
    assert seen == {"acme": "acme", "globex": "globex"}


def test_an_unknown_scim_path_is_a_scim_404(client: FlaskClient, auth: dict) -> None:
    assert_scim_error(client.get("/scim/v2/Nope", headers=auth), 404)


def test_an_unknown_path_outside_scim_is_a_scim_404(client: FlaskClient) -> None:
    assert_scim_error(client.get("/nope"), 404)


def test_a_write_to_a_discovery_endpoint_is_a_405_with_allow(client: FlaskClient, auth: dict) -> None:
    response = client.post(SPC, headers=auth, json={})
    assert_scim_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_a_wrong_method_on_the_health_probe_is_a_405(client: FlaskClient) -> None:
    assert_scim_error(client.post("/healthz"), 405)


def test_a_body_over_the_limit_is_a_413(app: Flask, client: FlaskClient, auth: dict) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/scim/v2/Users", headers=auth, data="{" + " " * 2000 + "}")
    assert_scim_error(response, 413)


def test_health_needs_no_auth_and_no_database(app: Flask, client: FlaskClient) -> None:
    app.extensions["scim.engine"].dispose()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json(force=True) == {"status": "ok"}


def test_readiness_reports_a_migrated_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json(force=True)["status"] == "ready"


def test_a_500_is_a_scim_error_without_a_stack_trace(app: Flask, client: FlaskClient) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    body = assert_scim_error(client.get("/boom"), 500)
    assert "SELECT" not in body["detail"] and "Traceback" not in body["detail"]


def test_the_service_provider_config_advertises_what_works(client: FlaskClient, auth: dict) -> None:
    body = client.get(SPC, headers=auth).get_json()
    assert body["patch"]["supported"] and body["sort"]["supported"] and body["etag"]["supported"]
    assert body["filter"] == {"supported": True, "maxResults": 1000}
    assert body["pagination"]["cursor"] is True and body["pagination"]["index"] is True
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
