"""The setup page's capture control without JavaScript, through the Flask test client: off by default; its form
records the tenant's SCIM requests with their bodies for an hour, and stops; the page's CSRF token and a live link
are required."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scim.changes import REDACTED
from tests.api.test_capture import admin, captured  # noqa: F401 (the admin key fixture)
from tests.api.test_connection_status import headers, user
from tests.conftest import make_token
from tests.console.conftest import csrf_of
from tests.setup.conftest import end as end_link
from tests.setup.conftest import make_link

CAPTURE = "/admin/v1/tenants/acme/capture"


def press(client: FlaskClient, secret: str, action: str) -> TestResponse:
    """Press the capture section's button as a browser does: the form's post, then the page it redirects to."""
    page = client.get(f"/setup/{secret}?idp=okta")
    posted = client.post(f"/setup/{secret}/{action}", data={"csrf_token": csrf_of(page), "idp": "okta"})
    assert posted.status_code == 303
    assert posted.headers["Location"] == f"/setup/{secret}?idp=okta#capture"
    return client.get(posted.headers["Location"])


def capture_until(client: FlaskClient, key: dict[str, str]) -> str | None:
    return client.get(CAPTURE, headers=key).get_json()["capture_until"]


def test_capture_is_off_until_the_page_starts_it_then_requests_are_kept_with_their_bodies(
    app: Flask, client: FlaskClient, admin: dict[str, str]  # noqa: F811
) -> None:
    _link_id, secret = make_link(app, "acme")
    token = make_token(app, "acme")
    page = " ".join(client.get(f"/setup/{secret}").get_data(as_text=True).split())
    assert "capture off" in page and "Record this connection's requests and responses for 60 minutes" in page
    assert "visible to the platform's support staff" in page and "kept for 24 hours" in page
    assert client.post("/scim/v2/Users", json=user("ann@example.com"), headers=headers(token)).status_code == 201
    assert capture_until(client, admin) is None and captured(client, admin) == []

    shown = press(client, secret, "capture").get_data(as_text=True)
    until = capture_until(client, admin)
    assert until is not None
    assert f"capture on</span> until {until[11:16]} UTC" in shown and "Stop recording" in shown

    body = user("bob@example.com", password="Secret-1")
    assert client.post("/scim/v2/Users", json=body, headers=headers(token)).status_code == 201
    [posted] = captured(client, admin)
    kept = json.loads(posted["request"]["text"])
    assert kept["userName"] == "bob@example.com" and kept["password"] == REDACTED


def test_stop_ends_the_capture(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:  # noqa: F811
    _link_id, secret = make_link(app, "acme")
    token = make_token(app, "acme")
    press(client, secret, "capture")
    shown = press(client, secret, "capture/stop").get_data(as_text=True)
    assert "capture off" in shown and capture_until(client, admin) is None
    assert client.post("/scim/v2/Users", json=user(), headers=headers(token)).status_code == 201
    assert captured(client, admin) == []


def test_the_capture_form_needs_the_pages_csrf_token(
    app: Flask, client: FlaskClient, admin: dict[str, str]  # noqa: F811
) -> None:
    _link_id, secret = make_link(app, "acme")
    client.get(f"/setup/{secret}")
    refused = client.post(f"/setup/{secret}/capture", data={"csrf_token": "forged"})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert capture_until(client, admin) is None


@pytest.mark.parametrize("end", ["expired", "revoked"])
def test_a_link_no_longer_live_cannot_start_a_capture(
    app: Flask, client: FlaskClient, admin: dict[str, str], end: str  # noqa: F811
) -> None:
    link_id, secret = make_link(app, "acme")
    page = client.get(f"/setup/{secret}")
    end_link(app, link_id, end)
    refused = client.post(f"/setup/{secret}/capture", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 410 and "acme" not in refused.get_data(as_text=True)
    assert capture_until(client, admin) is None
