"""The guard on the connection page: settings, a hold with counts and a sample, and both release buttons; and a
held tenant's badge in the tenant list."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_guard import _deactivate, _users
from tests.conftest import make_token
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


def test_the_tenant_list_badges_a_held_tenant_with_a_link_to_its_guard(app: Flask, console: FlaskClient,
                                                                        client: FlaskClient, auth: dict) -> None:
    make_token(app, "globex")
    ids = _users(client, auth, 3)
    acme, globex = _tenant_id(app, "acme"), _tenant_id(app, "globex")
    page = f"/admin/tenants/{acme}"
    post_form(console, f"{page}/guard", {"enabled": "on", "max_deprovisions": "2", "window_minutes": "30"})
    for user_id in ids:
        _deactivate(client, auth, user_id)
    assert "Deliveries are held" in console.get(page).get_data(as_text=True)  # the page's read made the hold

    badge = f'href="/admin/tenants/{acme}#guard">held</a>'
    listing = console.get("/admin/").get_data(as_text=True)
    assert listing.count(">held</a>") == 1 and badge in listing
    assert badge in listing[listing.index(">acme<"):listing.index(">globex<")]
    assert f'href="/admin/tenants/{globex}#guard"' not in listing
    post_form(console, f"{page}/guard/release", {"net": "0"})
    assert ">held</a>" not in console.get("/admin/").get_data(as_text=True)
