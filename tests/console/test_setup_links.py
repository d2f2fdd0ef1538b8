"""Setup links in the console: created from the tenant's connection page with the URL shown once, listed, revoked."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from storage import tenants
from storage.db import make_sessionmaker
from tests.console.conftest import post_form
from tests.setup.conftest import make_link

_URL = re.compile(r'id="new-link" class="mono" value="(http://localhost/setup/[^"]+)"')


def _tenant_id(app: Flask, name: str) -> int:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return (tenants.find_by_name(session, name) or tenants.create(session, name)).id


def test_the_connection_page_creates_a_link_shown_once(app: Flask, console: FlaskClient) -> None:
    tenant_id = _tenant_id(app, "acme")
    connection = console.get(f"/admin/tenants/{tenant_id}").get_data(as_text=True)
    assert f'action="/admin/tenants/{tenant_id}/setup-links"' in connection and "Create setup link" in connection

    created = post_form(console, f"/admin/tenants/{tenant_id}/setup-links", {"expires": "7d", "label": "T-9"})
    assert created.status_code == 303 and created.headers["Location"] == f"/admin/tenants/{tenant_id}/setup-links"
    page = console.get(created.headers["Location"]).get_data(as_text=True)
    url = _URL.search(page).group(1)
    assert "T-9" in page and ">live<" in page
    assert console.get(url.removeprefix("http://localhost")).status_code == 200

    again = console.get(f"/admin/tenants/{tenant_id}/setup-links").get_data(as_text=True)
    assert _URL.search(again) is None and url.rsplit("/", 1)[1] not in again


def test_the_console_revokes_a_link(app: Flask, console: FlaskClient) -> None:
    tenant_id = _tenant_id(app, "acme")
    link_id, secret = make_link(app, "acme")
    revoked = post_form(console, f"/admin/tenants/{tenant_id}/setup-links/{link_id}/revoke")
    assert revoked.status_code == 303
    page = console.get(revoked.headers["Location"]).get_data(as_text=True)
    assert "revoked." in page and ">revoked<" in page
    assert console.get(f"/setup/{secret}").status_code == 410


def test_a_tenants_page_never_revokes_another_tenants_link(app: Flask, console: FlaskClient) -> None:
    acme = _tenant_id(app, "acme")
    link_id, secret = make_link(app, "globex")
    assert post_form(console, f"/admin/tenants/{acme}/setup-links/{link_id}/revoke").status_code == 404
    assert console.get(f"/setup/{secret}").status_code == 200


def test_the_form_refuses_a_long_expiry_and_needs_a_signed_in_admin(app: Flask, console: FlaskClient) -> None:
    tenant_id = _tenant_id(app, "acme")
    refused = post_form(console, f"/admin/tenants/{tenant_id}/setup-links", {"expires": "90d"})
    assert refused.status_code == 400 and "within 30 days" in refused.get_data(as_text=True)
    with console.session_transaction() as cookie:
        cookie.pop("sid")
    assert console.get(f"/admin/tenants/{tenant_id}/setup-links").status_code == 302
