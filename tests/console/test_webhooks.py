"""A tenant's webhooks through the console's forms: add (secret once), refuse a bad URL, test, deliveries, replay,
remove; another tenant's webhook is not found."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from storage import events
from tests.api.test_webhooks import committed_events, deliverer
from tests.conftest import make_token
from tests.console.conftest import post_form
from tests.console.test_tenants import _tenant_id
from tests.interop.test_okta import okta_user
from tests.webhook_receiver import receiving

_SECRET = re.compile(r'id="new-secret"[^>]*value="(whsec_[^"]+)"')


def test_add_test_see_deliveries_replay_and_remove(app: Flask, console: FlaskClient) -> None:
    token = make_token(app, "acme")
    tenant_id = _tenant_id(app, "acme")
    page = f"/admin/tenants/{tenant_id}/webhooks"
    with receiving() as receiver:
        refused = post_form(console, page, {"url": "http://example.com/hooks"})
        assert refused.status_code == 400 and "must use https" in refused.get_data(as_text=True)

        added = post_form(console, page, {"url": receiver.url, "kinds": "user.*"}, follow_redirects=True)
        shown = added.get_data(as_text=True)
        receiver.secret = _SECRET.search(shown).group(1)
        assert receiver.url in shown
        assert _SECRET.search(console.get(page).get_data(as_text=True)) is None  # shown once

        endpoint_id = int(re.search(rf"{page}/(\d+)", shown).group(1))
        tested = post_form(console, f"{page}/{endpoint_id}/test", follow_redirects=True)
        assert "Test message: 200" in tested.get_data(as_text=True)

        headers = {"Authorization": f"Bearer {token}"}
        assert console.post("/scim/v2/Users", json=okta_user("ann@atko.com"), headers=headers).status_code == 201
        work = deliverer(app)
        receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
        detail = console.get(f"{page}/{endpoint_id}").get_data(as_text=True)
        event = committed_events(app)[0]
        assert "user.created" in detail and "delivered" in detail and events.encode_cursor(event.id) in detail

        post_form(console, f"{page}/{endpoint_id}/replay", {"from": events.encode_cursor(event.id)})
        receiver.wait_for(lambda r: len(r.events()) == 2, work.step)
        work.close()

    make_token(app, "globex")
    other = _tenant_id(app, "globex")
    assert console.get(f"/admin/tenants/{other}/webhooks/{endpoint_id}").status_code == 404
    removed = post_form(console, f"{page}/{endpoint_id}/remove", follow_redirects=True)
    assert f"Webhook {endpoint_id} removed" in removed.get_data(as_text=True)
    assert console.get(f"{page}/{endpoint_id}").status_code == 404


def test_forms_need_the_csrf_token(app: Flask, console: FlaskClient) -> None:
    make_token(app, "acme")
    page = f"/admin/tenants/{_tenant_id(app, 'acme')}/webhooks"
    assert console.post(page, data={"url": "https://hooks.example.com/x"}).status_code in (400, 403)
