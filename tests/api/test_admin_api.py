"""The admin API's change feed: admin keys only, SCIM Error bodies, resumable cursors over commit order."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from scim import changes
from storage import admin_keys, events, tenants
from storage.db import make_sessionmaker
from storage.events import Origin
from tests.api.test_foundation import assert_scim_error
from tests.conftest import make_token

FEED = "/admin/v1/events"


@pytest.fixture
def admin_key(app: Flask) -> str:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return admin_keys.issue(session, "tests")[1]


@pytest.fixture
def admin(admin_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}"}


def add_events(app: Flask, tenant_name: str | None, count: int, kind: str = changes.USER_UPDATED) -> None:
    """`count` events in one transaction, as one request would stage them."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = _tenant_id(session, tenant_name)
        for index in range(count):
            origin = Origin("PATCH", f"/scim/v2/Users/u{index}", tenant_id)
            events.stage(session, events.entry(origin, kind, 200, "User", f"u{index}"))


def _tenant_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    return (tenants.find_by_name(session, name) or tenants.create(session, name)).id


def read_all(client: FlaskClient, admin: dict, url: str = FEED, limit: int = 3) -> list[dict]:
    seen, cursor = [], None
    while True:
        query = {"limit": limit, **({"after": cursor} if cursor else {})}
        body = client.get(url, headers=admin, query_string=query).get_json()
        seen += body["events"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return seen


def test_pages_cover_every_event_once_in_commit_order(app: Flask, client: FlaskClient, admin: dict) -> None:
    add_events(app, "acme", 4)
    add_events(app, None, 1, changes.REQUEST_REJECTED)
    add_events(app, "globex", 3)
    seen = read_all(client, admin)
    assert [(event["tenant"], event["resource_id"]) for event in seen] == [
        ("acme", "u0"), ("acme", "u1"), ("acme", "u2"), ("acme", "u3"), (None, "u0"),
        ("globex", "u0"), ("globex", "u1"), ("globex", "u2")]
    assert len({event["id"] for event in seen}) == 8
    assert set(seen[0]) == {"id", "time", "tenant", "kind", "status", "method", "path", "resource_type",
                            "resource_id", "token_id", "client_ip", "user_agent", "request_id", "scim_type", "detail",
                            "diff"}


def test_a_consumer_resumes_from_its_cursor_and_sees_only_newer_events(
    app: Flask, client: FlaskClient, admin: dict
) -> None:
    add_events(app, "acme", 2)
    first = client.get(FEED, headers=admin).get_json()
    assert len(first["events"]) == 2 and first["has_more"] is False
    empty = client.get(FEED, headers=admin, query_string={"after": first["next_cursor"]}).get_json()
    assert empty == {"events": [], "next_cursor": first["next_cursor"], "has_more": False}
    add_events(app, "acme", 1, changes.USER_DELETED)
    later = client.get(FEED, headers=admin, query_string={"after": first["next_cursor"]}).get_json()
    assert [event["kind"] for event in later["events"]] == [changes.USER_DELETED]
    # an event's id is a cursor too: resuming after the first event repeats the second (at-least-once)
    again = client.get(FEED, headers=admin, query_string={"after": first["events"][0]["id"]}).get_json()
    assert [event["id"] for event in again["events"]] == [first["events"][1]["id"], later["events"][0]["id"]]


def test_a_tenants_feed_holds_only_its_events(app: Flask, client: FlaskClient, admin: dict) -> None:
    add_events(app, "acme", 2)
    add_events(app, "globex", 2)
    add_events(app, None, 1, changes.REQUEST_REJECTED)
    seen = read_all(client, admin, "/admin/v1/tenants/globex/events", limit=1)
    assert [event["tenant"] for event in seen] == ["globex", "globex"]
    assert_scim_error(client.get("/admin/v1/tenants/nobody/events", headers=admin), 404)


def test_scim_tokens_do_not_open_the_admin_api(app: Flask, client: FlaskClient, admin: dict) -> None:
    scim_token = make_token(app, "acme")
    for headers in ({}, {"Authorization": f"Bearer {scim_token}"}, {"Authorization": "Bearer scimadm_guess"}):
        response = client.get(FEED, headers=headers)
        assert_scim_error(response, 401)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="admin"'
    assert client.get(FEED, headers=admin).status_code == 200


def test_admin_keys_do_not_open_the_scim_api(client: FlaskClient, admin: dict) -> None:
    assert client.get("/scim/v2/Users", headers=admin).status_code == 401
    assert client.get("/scim/v2/ServiceProviderConfig", headers=admin).status_code == 401


def test_a_revoked_key_stops_working(app: Flask, client: FlaskClient, admin: dict) -> None:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        [key] = admin_keys.list_keys(session)
        admin_keys.revoke(session, key.id)
    assert_scim_error(client.get(FEED, headers=admin), 401)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"after": "not a cursor"},
                                   {"after": "AAAA"}])
def test_bad_parameters_are_400s(client: FlaskClient, admin: dict, query: dict) -> None:
    assert_scim_error(client.get(FEED, headers=admin, query_string=query), 400, "invalidValue")


def test_unknown_paths_and_methods_are_scim_errors(client: FlaskClient, admin: dict) -> None:
    assert_scim_error(client.get("/admin/v1/nope", headers=admin), 404)
    response = client.post(FEED, headers=admin)
    assert_scim_error(response, 405)
    assert response.headers["Allow"] == "GET"
    assert_scim_error(client.delete("/admin/v1/nope", headers=admin), 404)
    guard = client.post("/admin/v1/tenants/acme/guard", headers=admin)
    assert_scim_error(guard, 405)
    assert guard.headers["Allow"] == "GET, PUT"
