"""The guard on the connection page: settings, a hold with counts and a sample, and both release buttons."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_guard import _deactivate, _users
from tests.console.conftest import post_form
from tests.console.test_tenants import _tenant_id


def test_the_page_shows_a_hold_and_each_button_releases_it(app: Flask, console: FlaskClient, client: FlaskClient,
                                                            auth: dict) -> None:
    ids = _users(client, auth, 6)
    page = f"/admin/tenants/{_tenant_id(app, 'acme')}"
    text = console.get(page).get_data(as_text=True)
    assert "Deliveries stop when more than\n       10 deactivations" in text and "0 in the window now" in text

    saved = post_form(console, f"{page}/guard", {"enabled": "on", "max_deprovisions": "2", "window_minutes": "30"})
    assert saved.status_code == 303
    _deactivate(client, auth, ids[0])
    text = console.get(page).get_data(as_text=True)
    assert "more than\n       2 deactivations" in text and "30 minutes; 1 in the window now" in text
    for user_id in ids[1:4]:
        _deactivate(client, auth, user_id)
    _deactivate(client, auth, ids[3], active=True)

    text = console.get(page).get_data(as_text=True)
    assert "Deliveries are held" in text and "3 events waiting" in text
    assert "<td><code>user.deactivated</code></td><td>3</td>" in text
    assert f'href="/admin/tenants/{_tenant_id(app, "acme")}/users/{ids[2]}">user2@acme.test</a>' in text
    held = console.get(f"{page}/activity", query_string={"kind": "tenant.held"}).get_data(as_text=True)
    assert "<code>GUARD /admin/v1/tenants/acme/guard</code>" in held  # the hold's event, its summary as its diff
    released = post_form(console, f"{page}/guard/release", {"net": "1"}, follow_redirects=True)
    assert "Hold released. Events delivered: 1; dropped as cancelling out: 2." in released.get_data(as_text=True)
    assert "Deliveries are held" not in released.get_data(as_text=True)

    released_events = console.get(f"{page}/activity", query_string={"kind": "tenant.released"})
    assert "/guard/release" in released_events.get_data(as_text=True)
    for user_id in ids[4:6]:
        _deactivate(client, auth, user_id)
    _deactivate(client, auth, ids[0], active=True)
    _deactivate(client, auth, ids[0])  # the third in the window: held, with the reactivation after it
    _deactivate(client, auth, ids[0], active=True)
    assert "2 events waiting" in console.get(page).get_data(as_text=True)
    released = post_form(console, f"{page}/guard/release", {"net": "0"}, follow_redirects=True)
    assert "Hold released. Events delivered: 2." in released.get_data(as_text=True)


def test_bad_settings_are_refused_and_empty_ones_are_the_defaults(app: Flask, console: FlaskClient,
                                                                  client: FlaskClient, auth: dict) -> None:
    _users(client, auth, 1)
    page = f"/admin/tenants/{_tenant_id(app, 'acme')}"
    refused = post_form(console, f"{page}/guard", {"max_deprovisions": "0"}, follow_redirects=True)
    assert "The threshold is a positive number" in refused.get_data(as_text=True)
    off = post_form(console, f"{page}/guard", {"max_deprovisions": "", "window_minutes": ""}, follow_redirects=True)
    assert "Deliveries are never held." in off.get_data(as_text=True)
