"""A tenant's webhooks in the admin API: add (the secret once), list, deliveries, replay, remove; admin keys only;
bad input is a SCIM error."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from storage import events
from tests.api.test_admin_api import admin, admin_key  # noqa: F401 (fixtures)
from tests.api.test_foundation import assert_scim_error
from tests.api.test_openapi import check, document  # noqa: F401 (a fixture)
from tests.api.test_webhooks import committed_events, deliverer
from tests.conftest import make_token
from tests.interop.test_okta import okta_user
from tests.webhook_receiver import receiving

HOOKS = "/admin/v1/tenants/acme/webhooks"
TEMPLATE = "/admin/v1/tenants/{name}/webhooks"  # its path in the OpenAPI document


def test_add_list_deliveries_replay_and_remove(
    app: Flask, client: FlaskClient, admin: dict, auth: dict, document: dict  # noqa: F811
) -> None:
    with receiving() as receiver:
        response = client.post(HOOKS, json={"url": receiver.url, "kinds": ["user.*"]}, headers=admin)
        assert response.status_code == 201, response.get_data(as_text=True)
        added = response.get_json()
        check(document, "POST", TEMPLATE, response)
        receiver.secret = added["secret"]
        assert added["secret"].startswith("whsec_") and added["kinds"] == ["user.*"] and added["status"] == "active"
        listing = client.get(HOOKS, headers=admin)
        check(document, "GET", TEMPLATE, listing)
        listed = listing.get_json()["webhooks"]
        assert [hook["id"] for hook in listed] == [added["id"]] and "secret" not in listed[0]

        assert client.post("/scim/v2/Users", json=okta_user("ann@atko.com"), headers=auth).status_code == 201
        work = deliverer(app)
        receiver.wait_for(lambda r: len(r.events()) == 1, work.step)
        page = client.get(f"{HOOKS}/{added['id']}/deliveries", headers=admin)
        check(document, "GET", TEMPLATE + "/{id}/deliveries", page)
        shown = page.get_json()["deliveries"]
        event = committed_events(app)[0]
        assert [(d["event"], d["kind"], d["status"], d["attempts"], d["http_status"]) for d in shown] == [
            (events.encode_cursor(event.id), "user.created", "delivered", 1, 200)]

        replayed = client.post(f"{HOOKS}/{added['id']}/replay", json={"from": events.encode_cursor(event.id)},
                               headers=admin)
        check(document, "POST", TEMPLATE + "/{id}/replay", replayed)
        assert replayed.status_code == 200
        receiver.wait_for(lambda r: len(r.events()) == 2, work.step)
        work.close()
        assert [m.id for m in receiver.events()] == [str(event.id)] * 2

    removed = client.delete(f"{HOOKS}/{added['id']}", headers=admin)
    check(document, "DELETE", TEMPLATE + "/{id}", removed)
    assert removed.status_code == 204
    assert client.get(HOOKS, headers=admin).get_json()["webhooks"] == []
    assert_scim_error(client.delete(f"{HOOKS}/{added['id']}", headers=admin), 404)


def test_bad_input_and_other_tenants_are_scim_errors(
    app: Flask, client: FlaskClient, admin: dict, auth: dict  # noqa: F811
) -> None:
    assert_scim_error(client.post(HOOKS, json={"url": "http://example.com/h"}, headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(HOOKS, json={"url": 5}, headers=admin), 400, "invalidValue")
    assert_scim_error(client.post(HOOKS, data="{", content_type="application/json", headers=admin), 400,
                      "invalidSyntax")
    assert_scim_error(client.get("/admin/v1/tenants/nobody/webhooks", headers=admin), 404)
    added = client.post(HOOKS, json={"url": "https://hooks.example.com/x"}, headers=admin).get_json()
    make_token(app, "other")
    assert_scim_error(client.delete(f"/admin/v1/tenants/other/webhooks/{added['id']}", headers=admin), 404)
    assert_scim_error(client.post(f"{HOOKS}/{added['id']}/replay", json={"from": "nope!"}, headers=admin), 400,
                      "invalidValue")


def test_scim_tokens_do_not_open_the_webhooks(client: FlaskClient, auth: dict) -> None:
    response = client.get(HOOKS, headers={"Authorization": auth["Authorization"]})
    assert_scim_error(response, 401)
