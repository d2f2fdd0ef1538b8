"""Tenants, the connection page and tokens, through the console's forms."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from scim.payloads import parse_resource
from scim.schemas import GROUP, USER
from storage import groups, tenants, users
from storage.db import make_sessionmaker
from storage.events import Origin
from storage.models import Tenant, Token, utcnow
from tests.conftest import make_token
from tests.console.conftest import post_form

SPC = "/scim/v2/ServiceProviderConfig"
_SECRET = re.compile(r'id="new-secret"[^>]*value="(scim_[^"]+)"')

SEEDED = Origin("POST", "/seed")


def _tenant_id(app: Flask, name: str) -> int:
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        return tenants.get_by_name(session, name).id


def _create_token(console: FlaskClient, tenant_id: int, **fields: str):
    return post_form(console, f"/admin/tenants/{tenant_id}/tokens", fields)


def test_the_tenant_list_shows_counts_and_the_last_call_from_the_idp(app: Flask, console: FlaskClient) -> None:
    secret = make_token(app, "acme")
    make_token(app, "globex")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        acme = tenants.get_by_name(session, "acme")
        for name in ("ann", "bob"):
            users.create(session.connection(), acme.id, USER, parse_resource({"userName": name}, USER), SEEDED)
        groups.create(session.connection(), acme.id, GROUP, parse_resource({"displayName": "staff"}, GROUP), SEEDED)
    page = console.get("/admin/").get_data(as_text=True)
    assert "never" in page  # no call yet from either IdP
    assert console.get(SPC, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page = console.get("/admin/").get_data(as_text=True)
    acme_row = page[page.index(">acme<"):page.index(">globex<")]
    assert re.search(r">2</a>.*>1</a>", acme_row, re.S), acme_row
    assert utcnow().strftime("%Y-%m-%d") in acme_row and "never" not in acme_row


def test_creating_a_tenant_leads_to_its_connection_page(app: Flask, console: FlaskClient) -> None:
    response = post_form(console, "/admin/tenants", {"name": "  acme  "})
    assert response.status_code == 302
    tenant_id = _tenant_id(app, "acme")
    assert response.headers["Location"] == f"/admin/tenants/{tenant_id}"
    page = console.get(response.headers["Location"]).get_data(as_text=True)
    assert "Tenant acme created" in page


def test_a_taken_or_malformed_tenant_name_is_shown_as_an_error(app: Flask, console: FlaskClient) -> None:
    post_form(console, "/admin/tenants", {"name": "acme"})
    taken = post_form(console, "/admin/tenants", {"name": "acme"})
    assert taken.status_code == 400 and "already exists" in taken.get_data(as_text=True)
    for name in ("", "   ", "x" * 64, "Bad Name!", "a/b"):
        response = post_form(console, "/admin/tenants", {"name": name})
        assert response.status_code == 400 and "is not a tenant name" in response.get_data(as_text=True)
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        assert [tenant.name for tenant in session.scalars(select(Tenant))] == ["acme"]


def test_the_connection_page_has_the_idp_settings(app: Flask, console: FlaskClient) -> None:
    make_token(app, "acme")
    page = console.get(f"/admin/tenants/{_tenant_id(app, 'acme')}").get_data(as_text=True)
    for text in ("http://localhost/scim/v2", "SCIM connector base URL", "Unique identifier field for users",
                 "<code>userName</code>", "HTTP Header", "Push Groups", "Tenant URL", "Secret Token", "scim_",
                 '<code id="entra-url">http://localhost/scim/v2?aadOptscim062020</code>'):
        assert text in page, text


def test_the_base_url_follows_the_configured_public_url(db_url: str) -> None:
    from app import create_app
    from tests.console.conftest import create_admin, sign_in

    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "PUBLIC_BASE_URL": "https://scim.example.com/"})
    create_admin(app)
    client = app.test_client()
    sign_in(client)
    make_token(app, "acme")
    page = client.get(f"/admin/tenants/{_tenant_id(app, 'acme')}").get_data(as_text=True)
    assert "https://scim.example.com/scim/v2" in page
    app.extensions["scim.engine"].dispose()


def test_a_new_token_is_shown_once_and_authenticates(app: Flask, console: FlaskClient) -> None:
    post_form(console, "/admin/tenants", {"name": "acme"})
    tenant_id = _tenant_id(app, "acme")
    posted = _create_token(console, tenant_id, label="Okta production", expires_days="90")
    assert posted.status_code == 303 and posted.headers["Location"] == f"/admin/tenants/{tenant_id}"
    response = console.get(posted.headers["Location"])
    page = response.get_data(as_text=True)
    secret = _SECRET.search(page).group(1)
    assert "shown only this once" in page and 'data-copy="new-secret"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert console.get(SPC, headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    again = console.get(f"/admin/tenants/{tenant_id}").get_data(as_text=True)  # a reload
    assert secret not in again and secret[:11] + "…" in again and "Okta production" in again
    assert "new-secret" not in again
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        token = session.scalars(select(Token)).one()  # the reload issued no second token
    assert token.label == "Okta production" and token.expires_at is not None
    assert abs(token.expires_at - token.created_at - timedelta(days=90)) < timedelta(minutes=1)


def test_a_bad_token_form_creates_nothing(app: Flask, console: FlaskClient) -> None:
    post_form(console, "/admin/tenants", {"name": "acme"})
    tenant_id = _tenant_id(app, "acme")
    for fields in ({"expires_days": "0"}, {"expires_days": "soon"}, {"expires_days": "99999"}, {"label": "x" * 201}):
        response = _create_token(console, tenant_id, **fields)
        assert response.status_code == 400
        assert "new-secret" not in response.get_data(as_text=True)
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        assert session.scalars(select(Token)).all() == []


def test_revoking_asks_first_then_the_token_stops_working(app: Flask, console: FlaskClient) -> None:
    secret = make_token(app, "acme")
    tenant_id = _tenant_id(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        token_id = session.scalar(select(Token.id))
    page = console.get(f"/admin/tenants/{tenant_id}").get_data(as_text=True)
    confirm_url = f"/admin/tenants/{tenant_id}/tokens/{token_id}/revoke"
    assert f'href="{confirm_url}"' in page

    confirm = console.get(confirm_url)
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.get_data(as_text=True)
    assert console.get(SPC, headers={"Authorization": f"Bearer {secret}"}).status_code == 200  # not yet

    response = post_form(console, confirm_url)
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/tenants/{tenant_id}"
    assert console.get(SPC, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    page = console.get(response.headers["Location"]).get_data(as_text=True)
    assert "revoked" in page and f'href="{confirm_url}"' not in page
    assert "It was revoked" in console.get(confirm_url).get_data(as_text=True)


def test_a_token_is_revoked_only_through_its_own_tenant(app: Flask, console: FlaskClient) -> None:
    secret = make_token(app, "acme")
    make_token(app, "globex")
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        acme_token = session.scalar(select(Token.id).join(Tenant).where(Tenant.name == "acme"))
    other = f"/admin/tenants/{_tenant_id(app, 'globex')}/tokens/{acme_token}/revoke"
    assert console.get(other).status_code == 404
    response = post_form(console, other)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert console.get(SPC, headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_an_expired_token_is_listed_as_expired(app: Flask, console: FlaskClient) -> None:
    make_token(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        session.execute(update(Token).values(expires_at=utcnow()))
    page = console.get(f"/admin/tenants/{_tenant_id(app, 'acme')}").get_data(as_text=True)
    assert ">expired</span>" in page and "Revoke…" not in page


def test_an_unknown_tenant_is_a_404_page(console: FlaskClient) -> None:
    for path in ("/admin/tenants/999", "/admin/tenants/999/users", "/admin/tenants/999/activity"):
        response = console.get(path)
        assert response.status_code == 404 and "No tenant with id 999" in response.get_data(as_text=True)
