"""Setup links from the CLI and the admin API: created with a URL shown once, listed without secrets, revoked, and
the tenant's watch_until following its live links."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from app.cli import cli
from storage import admin_keys
from storage.db import make_sessionmaker
from storage.models import utcnow
from tests.api.test_foundation import assert_scim_error
from tests.api.test_openapi import check
from tests.conftest import make_token
from tests.setup.conftest import make_link, watch_until

LINKS = "/admin/v1/tenants/acme/setup-links"


@pytest.fixture
def admin(app: Flask) -> dict[str, str]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return {"Authorization": f"Bearer {admin_keys.issue(session, 'tests')[1]}"}


def test_the_cli_creates_lists_and_revokes_a_link(app: Flask, runner: FlaskCliRunner, client: FlaskClient) -> None:
    make_token(app, "acme")
    result = runner.invoke(cli, ["setup-link", "create", "--tenant", "acme", "--expires", "2d", "--label", "T-42",
                                 "--base-url", "https://scim.example.com/"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    link_id, url = lines[0].removeprefix("id: "), lines[-1]
    assert url.startswith("https://scim.example.com/setup/") and len(url.rsplit("/", 1)[1]) >= 43
    path = url.removeprefix("https://scim.example.com")
    assert client.get(path).status_code == 200

    listing = runner.invoke(cli, ["setup-link", "list", "--tenant", "acme"]).output
    assert link_id in listing and "T-42" in listing and "live" in listing
    assert url.rsplit("/", 1)[1] not in listing

    assert runner.invoke(cli, ["setup-link", "revoke", link_id]).exit_code == 0
    assert client.get(path).status_code == 410
    assert "revoked" in runner.invoke(cli, ["setup-link", "list"]).output


def test_the_cli_base_url_defaults_to_the_public_one(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "PUBLIC_BASE_URL": "https://id.example.org"})
    make_token(app, "acme")
    result = app.test_cli_runner().invoke(cli, ["setup-link", "create", "--tenant", "acme"])
    assert result.stdout.strip().splitlines()[-1].startswith("https://id.example.org/setup/")
    app.extensions["scim.engine"].dispose()


@pytest.mark.parametrize("expires", ["31d", "0d", "7 days", "-1h", "721h"])
def test_the_cli_refuses_an_expiry_it_cannot_use(app: Flask, runner: FlaskCliRunner, expires: str) -> None:
    make_token(app, "acme")
    result = runner.invoke(cli, ["setup-link", "create", "--tenant", "acme", "--expires", expires])
    assert result.exit_code != 0 and expires in result.output


def test_the_cli_names_an_unknown_tenant_and_link(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["setup-link", "create", "--tenant", "nobody"])
    assert result.exit_code != 0 and "nobody" in result.output
    result = runner.invoke(cli, ["setup-link", "revoke", "deadbeef"])
    assert result.exit_code != 0 and "deadbeef" in result.output


def test_the_admin_api_creates_lists_and_revokes(app: Flask, client: FlaskClient, admin: dict) -> None:
    make_token(app, "acme")
    created = client.post(LINKS, json={"expires": "12h", "label": "ticket 7"}, headers=admin)
    assert created.status_code == 201
    body = created.get_json()
    assert body["url"].startswith("http://localhost/setup/") and body["state"] == "live"
    assert timedelta(hours=11) < _instant(body["expires_at"]) - utcnow() <= timedelta(hours=12)
    secret = body["url"].rsplit("/", 1)[1]

    listed = client.get(LINKS, headers=admin).get_json()["setup_links"]
    assert [(link["id"], link["label"], link["state"]) for link in listed] == [(body["id"], "ticket 7", "live")]
    assert secret not in client.get(LINKS, headers=admin).get_data(as_text=True)

    revoked = client.delete(f"{LINKS}/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    assert client.get(f"/setup/{secret}").status_code == 410


def test_the_admin_api_defaults_to_seven_days_and_checks_its_input(app: Flask, client: FlaskClient,
                                                                    admin: dict) -> None:
    make_token(app, "acme")
    created = client.post(LINKS, headers=admin)
    assert created.status_code == 201
    assert timedelta(days=6, hours=23) < _instant(created.get_json()["expires_at"]) - utcnow() <= timedelta(days=7)
    assert_scim_error(client.post(LINKS, json={"expires": "45d"}, headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(LINKS, json={"expires": 7}, headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(LINKS, json={"label": "x" * 201}, headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(LINKS, data="{", content_type="application/json", headers=admin), 400)
    assert_scim_error(client.post("/admin/v1/tenants/nobody/setup-links", headers=admin), 404)


def test_the_admin_api_needs_an_admin_key(app: Flask, client: FlaskClient) -> None:
    token = make_token(app, "acme")
    assert_scim_error(client.post(LINKS), 401)
    assert_scim_error(client.post(LINKS, headers={"Authorization": f"Bearer {token}"}), 401)
    assert_scim_error(client.get(LINKS, headers={"Authorization": f"Bearer {token}"}), 401)


def test_a_tenant_cannot_revoke_another_tenants_link(app: Flask, client: FlaskClient, admin: dict) -> None:
    make_token(app, "acme")
    other_id, other_secret = make_link(app, "globex")
    assert_scim_error(client.delete(f"{LINKS}/{other_id}", headers=admin), 404)
    assert client.get(f"/setup/{other_secret}").status_code == 200


def test_watch_until_is_the_latest_expiry_of_the_live_links(app: Flask, client: FlaskClient, admin: dict) -> None:
    make_token(app, "acme")
    assert watch_until(app, "acme") is None
    short = client.post(LINKS, json={"expires": "1h"}, headers=admin).get_json()
    long = client.post(LINKS, json={"expires": "3d"}, headers=admin).get_json()
    assert watch_until(app, "acme") == _instant(long["expires_at"])
    client.delete(f"{LINKS}/{long['id']}", headers=admin)
    assert watch_until(app, "acme") == _instant(short["expires_at"])
    client.delete(f"{LINKS}/{short['id']}", headers=admin)
    assert watch_until(app, "acme") is None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_admin_api_answers_match_the_openapi_document(app: Flask, client: FlaskClient, admin: dict) -> None:
    document = client.get("/openapi.json").get_json()
    make_token(app, "acme")
    path = "/admin/v1/tenants/{name}/setup-links"
    created = client.post(LINKS, json={"expires": "1d", "label": "x"}, headers=admin)
    check(document, "POST", path, created)
    check(document, "GET", path, client.get(LINKS, headers=admin))
    check(document, "DELETE", path + "/{linkId}", client.delete(f"{LINKS}/{created.get_json()['id']}", headers=admin))
    check(document, "POST", path, client.post(LINKS, json={"expires": "1y"}, headers=admin))
