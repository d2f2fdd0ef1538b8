"""The console's traffic capture: started from the tenant's Capture tab, captured requests shown with their bodies
(secrets redacted), stopped; the same capture the CLI and the admin API control."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from scim.changes import REDACTED
from storage import tenants
from storage.db import make_sessionmaker
from tests.api.test_connection_status import headers, user
from tests.conftest import make_token
from tests.console.conftest import post_form


def test_start_see_and_stop_a_capture(app: Flask, console: FlaskClient) -> None:
    token = make_token(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.get_by_name(session, "acme").id
    page = console.get(f"/admin/tenants/{tenant_id}/capture")
    assert page.status_code == 200 and "Start capture" in page.get_data(as_text=True)
    assert "Nothing captured" in page.get_data(as_text=True)

    started = post_form(console, f"/admin/tenants/{tenant_id}/capture/start", {"minutes": "15"},
                        follow_redirects=True)
    assert "Capturing the traffic of acme until" in started.get_data(as_text=True)
    assert console.post("/scim/v2/Users", json=user(password="Secret-1"), headers=headers(token)).status_code == 201
    shown = console.get(f"/admin/tenants/{tenant_id}/capture").get_data(as_text=True)
    assert "/scim/v2/Users</code> → <strong>201" in shown
    assert REDACTED in shown and "Secret-1" not in shown and token not in shown
    assert "Stop capture" in shown

    stopped = post_form(console, f"/admin/tenants/{tenant_id}/capture/stop", follow_redirects=True)
    text = stopped.get_data(as_text=True)
    assert "Capture of acme stopped." in text and "Start capture" in text
    assert "/scim/v2/Users</code> → <strong>201" in text  # kept until it expires


def test_a_capture_longer_than_a_day_is_refused(app: Flask, console: FlaskClient) -> None:
    make_token(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.get_by_name(session, "acme").id
    refused = post_form(console, f"/admin/tenants/{tenant_id}/capture/start", {"minutes": "1441"},
                        follow_redirects=True)
    assert "at most" in refused.get_data(as_text=True)
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        assert tenants.get_by_name(session, "acme").capture_until is None
