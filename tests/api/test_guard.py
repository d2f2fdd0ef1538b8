"""The mass-deprovisioning guard over HTTP: the SCIM API keeps answering, the tenant's change feed stops before the
event that tripped it, and a release lets the held events go (all, or their net effect)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.openapi import document
from scim import changes
from storage import admin_keys, guard, tenants
from storage.db import make_sessionmaker, write_transaction
from storage.models import Event, GuardHold
from tests.api.test_admin_api import admin, admin_key  # noqa: F401 (fixtures)
from tests.api.test_metrics import HELD_TENANTS, METRICS_TOKEN, samples, value
from tests.api.test_openapi import check
from tests.api.test_users import PATCH_URN, USER_URN, patch
from tests.conftest import make_token
from tests.live import call, live_server

GUARD = "/admin/v1/tenants/acme/guard"
FEED = "/admin/v1/tenants/acme/events"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _users(client: FlaskClient, auth: dict, count: int) -> list[str]:
    ids = []
    for index in range(count):
        response = client.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER_URN], "userName": f"user{index}@acme.test", "active": True})
        assert response.status_code == 201
        ids.append(response.get_json(force=True)["id"])
    return ids


def _deactivate(client: FlaskClient, auth: dict, user_id: str, active: bool = False) -> None:
    response = patch(client, auth, user_id, {"op": "replace", "value": {"active": active}})
    assert response.status_code == 200  # the IdP is answered as ever, held or not


def _feed(client: FlaskClient, admin: dict, after: str | None = None) -> dict:  # noqa: F811
    query = {"limit": 1000, **({"after": after} if after else {})}
    response = client.get(FEED, headers=admin, query_string=query)
    assert response.status_code == 200
    return response.get_json()


def _kinds(body: dict) -> list[tuple[str, str | None]]:
    return [(event["kind"], event["resource_id"]) for event in body["events"]]


def test_a_20_person_tenant_trips_at_its_11th_deactivation_and_a_release_delivers_all_in_order(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 20)
    assert client.get(GUARD, headers=admin).get_json()["max_deprovisions"] == 10  # the default floor
    for user_id in ids[:12]:
        _deactivate(client, auth, user_id)

    body = _feed(client, admin)
    deactivated = [rid for kind, rid in _kinds(body) if kind == changes.USER_DEACTIVATED]
    assert deactivated == ids[:10]  # the 11th deactivation tripped the guard: it and all after it wait
    assert body["held"]["counts"] == {changes.USER_DEACTIVATED: 11}
    assert body["held"]["max_deprovisions"] == 10 and body["held"]["window_seconds"] == 15 * 60
    assert {"id": ids[10], "name": "user10@acme.test"} in body["held"]["sample"]["users"]
    assert len(body["held"]["sample"]["users"]) == 10
    assert not body["has_more"]
    again = _feed(client, admin, body["next_cursor"])  # the cursor stays before the held events
    assert again["events"] == [] and again["held"] == body["held"]
    assert client.get(f"/scim/v2/Users/{ids[11]}", headers=auth).get_json()["active"] is False
    status = client.get(GUARD, headers=admin).get_json()
    assert status["held"] == body["held"] and status["held_events"] == 2

    released = client.post(f"{GUARD}/release", headers=admin, json={"net": False})
    assert released.status_code == 200 and released.get_json()["delivered"] == 2
    rest = _feed(client, admin, body["next_cursor"])
    assert _kinds(rest) == [(changes.USER_DEACTIVATED, ids[10]), (changes.USER_DEACTIVATED, ids[11])]
    assert "held" not in rest
    assert client.get(GUARD, headers=admin).get_json()["held"] is None
    assert client.post(f"{GUARD}/release", headers=admin, json={"net": False}).status_code == 409


def test_a_larger_tenant_trips_past_5_percent_by_deletions(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 300)
    assert client.get(GUARD, headers=admin).get_json()["max_deprovisions"] == 15
    for user_id in ids[:15]:
        assert client.delete(f"/scim/v2/Users/{user_id}", headers=auth).status_code == 204
    assert "held" not in _feed(client, admin)
    for user_id in ids[15:17]:
        assert client.delete(f"/scim/v2/Users/{user_id}", headers=auth).status_code == 204
    body = _feed(client, admin)
    assert [rid for kind, rid in _kinds(body) if kind == changes.USER_DELETED] == ids[:15]
    assert body["held"]["counts"] == {changes.USER_DELETED: 16}


def test_entras_member_removal_emptying_a_group_trips_the_guard(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 20)
    created = client.post("/scim/v2/Groups", headers=auth, json={
        "schemas": [GROUP_URN], "displayName": "Everyone", "members": [{"value": user_id} for user_id in ids]})
    group_id = created.get_json(force=True)["id"]
    response = client.patch(f"/scim/v2/Groups/{group_id}", headers=auth, json={"schemas": [PATCH_URN], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": user_id} for user_id in ids]}]})
    assert response.status_code in (200, 204)
    body = _feed(client, admin)
    assert _kinds(body)[-1] == (changes.GROUP_CREATED, group_id)
    assert body["held"]["counts"] == {changes.GROUP_MEMBERS_REMOVED: 20}
    assert body["held"]["sample"]["groups"] == [{"id": group_id, "name": "Everyone"}]


def test_a_net_release_drops_a_reverted_deactivation_and_a_second_trip_holds_again(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 8)
    settings = client.put(GUARD, headers=admin, json={"max_deprovisions": 2})
    assert settings.status_code == 200 and settings.get_json()["max_deprovisions"] == 2
    for user_id in ids[:3]:
        _deactivate(client, auth, user_id)
    _deactivate(client, auth, ids[3])
    _deactivate(client, auth, ids[3], active=True)  # the IdP admin reverts one
    first = _feed(client, admin)
    assert first["held"]["counts"] == {changes.USER_DEACTIVATED: 3}

    released = client.post(f"{GUARD}/release", headers=admin, json={"net": True}).get_json()
    assert (released["delivered"], released["dropped"]) == (1, 2)
    rest = _feed(client, admin, first["next_cursor"])
    assert _kinds(rest) == [(changes.USER_DEACTIVATED, ids[2])] and "held" not in rest

    # detection resumes after the released range: three more deprovisions trip it again, not the released ones
    _deactivate(client, auth, ids[4])
    _deactivate(client, auth, ids[5])
    assert "held" not in _feed(client, admin, rest["next_cursor"])
    _deactivate(client, auth, ids[6])
    second = _feed(client, admin, rest["next_cursor"])
    assert _kinds(second) == [(changes.USER_DEACTIVATED, ids[4]), (changes.USER_DEACTIVATED, ids[5])]
    assert second["held"]["counts"] == {changes.USER_DEACTIVATED: 3}
    assert second["held"]["tripped_at"] != first["held"]["tripped_at"]


def test_a_net_release_drops_members_removed_and_added_back(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 4)
    client.put(GUARD, headers=admin, json={"max_deprovisions": 2})
    created = client.post("/scim/v2/Groups", headers=auth, json={
        "schemas": [GROUP_URN], "displayName": "Everyone", "members": [{"value": user_id} for user_id in ids]})
    group = f"/scim/v2/Groups/{created.get_json(force=True)['id']}"
    members = [{"value": user_id} for user_id in ids[:3]]
    for operation in ({"op": "Remove", "path": "members", "value": members},  # trips: 3 removals
                      {"op": "Add", "path": "members", "value": members},  # the IdP admin puts them back
                      {"op": "Remove", "path": "members", "value": [{"value": ids[3]}]}):
        response = client.patch(group, headers=auth, json={"schemas": [PATCH_URN], "Operations": [operation]})
        assert response.status_code in (200, 204)
    first = _feed(client, admin)
    assert first["held"]["counts"] == {changes.GROUP_MEMBERS_REMOVED: 3}
    released = client.post(f"{GUARD}/release", headers=admin, json={"net": True}).get_json()
    assert (released["delivered"], released["dropped"]) == (1, 2)
    rest = _feed(client, admin, first["next_cursor"])
    assert [(event["kind"], event["diff"]["members"]) for event in rest["events"]] == [
        (changes.GROUP_MEMBERS_REMOVED, {"removed": {"ids": [ids[3]], "count": 1}})]


def test_a_guard_turned_off_holds_nothing(client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 12)
    assert client.put(GUARD, headers=admin, json={"enabled": False}).get_json()["enabled"] is False
    for user_id in ids:
        _deactivate(client, auth, user_id)
    body = _feed(client, admin)
    assert "held" not in body and len([kind for kind, _ in _kinds(body) if kind == changes.USER_DEACTIVATED]) == 12


@pytest.mark.parametrize("settings", [{"max_deprovisions": 0}, {"window_seconds": "15m"}, {"enabled": "yes"},
                                      {"threshold": 5}, []])
def test_bad_settings_are_400(client: FlaskClient, admin: dict, settings: object) -> None:  # noqa: F811
    make_token(client.application, "acme")
    response = client.put(GUARD, headers=admin, json=settings)
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"


def test_the_all_tenants_feed_stops_before_the_first_held_event(
        app: Flask, client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    ids = _users(client, auth, 12)
    globex = {**auth, "Authorization": f"Bearer {make_token(app, 'globex')}"}
    for user_id in ids[:11]:
        _deactivate(client, auth, user_id)
    _users(client, globex, 1)
    body = client.get("/admin/v1/events", headers=admin, query_string={"limit": 1000}).get_json()
    assert body["held"]["tenant"] == "acme" and not body["has_more"]
    assert [event["tenant"] for event in body["events"]].count("globex") == 0  # after acme's held event
    assert body["events"][-1]["resource_id"] == ids[9]
    client.post(f"{GUARD}/release", headers=admin, json={"net": False})
    rest = client.get("/admin/v1/events", headers=admin, query_string={"after": body["next_cursor"]}).get_json()
    assert [(event["tenant"], event["kind"]) for event in rest["events"]] == [
        ("acme", changes.USER_DEACTIVATED), ("globex", changes.USER_CREATED)]


def test_concurrent_readers_make_one_hold(app: Flask, client: FlaskClient, auth: dict) -> None:
    ids = _users(client, auth, 12)
    for user_id in ids[:11]:
        _deactivate(client, auth, user_id)
    engine = app.extensions["scim.engine"]
    with make_sessionmaker(engine)() as session:
        tenant_id = tenants.get_by_name(session, "acme").id
    start, seen, failures = threading.Barrier(6), [], []

    def read() -> None:
        try:
            start.wait(timeout=30)
            with make_sessionmaker(engine)() as session:
                seen.append(guard.deliverable(session, tenant_id, 0, 1000).hold)
        except Exception as error:  # reported below: a thread's exception is not the test's
            failures.append(error)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len({hold.id for hold in seen if hold is not None}) == 1 and None not in seen
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(GuardHold)) == 1
        assert session.scalar(select(func.count()).where(Event.kind == changes.TENANT_HELD)) == 1


def test_holds_and_releases_are_counted_and_the_held_tenants_read_in_the_metrics(db_url: str) -> None:
    metrics_app = create_app({"DATABASE_URL": db_url, "TESTING": True, "METRICS_TOKEN": METRICS_TOKEN})
    try:
        client = metrics_app.test_client()
        auth = {"Authorization": f"Bearer {make_token(metrics_app, 'acme')}", "Content-Type": "application/scim+json"}
        admin = {"Authorization": f"Bearer {_admin_key(metrics_app)}"}
        before = samples(client)
        assert (HELD_TENANTS, frozenset()) in before and value(before, HELD_TENANTS) == 0
        for user_id in _users(client, auth, 11):
            _deactivate(client, auth, user_id)
        assert "held" in _feed(client, admin)
        assert value(samples(client), HELD_TENANTS) == 1
        assert client.post(f"{GUARD}/release", headers=admin, json={"net": True}).status_code == 200
        after = samples(client)
        for name in ("scim_guard_holds_total", "scim_guard_releases_total"):
            assert value(after, name) - value(before, name) == 1
        assert (HELD_TENANTS, frozenset()) in after and value(after, HELD_TENANTS) == 0
    finally:
        metrics_app.extensions["scim.engine"].dispose()


def _admin_key(app: Flask) -> str:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return admin_keys.issue(session, "tests")[1]


def test_the_guard_routes_and_a_held_feed_match_the_openapi_document(
        client: FlaskClient, auth: dict, admin: dict) -> None:  # noqa: F811
    for user_id in _users(client, auth, 11):
        _deactivate(client, auth, user_id)
    check(document(), "GET", "/admin/v1/tenants/{name}/events", client.get(FEED, headers=admin))
    check(document(), "GET", "/admin/v1/events", client.get("/admin/v1/events", headers=admin))
    check(document(), "GET", "/admin/v1/tenants/{name}/guard", client.get(GUARD, headers=admin))
    check(document(), "PUT", "/admin/v1/tenants/{name}/guard",
          client.put(GUARD, headers=admin, json={"window_seconds": 600}))
    check(document(), "PUT", "/admin/v1/tenants/{name}/guard", client.put(GUARD, headers=admin, json={"x": 1}))
    check(document(), "POST", "/admin/v1/tenants/{name}/guard/release",
          client.post(f"{GUARD}/release", headers=admin, json={"net": True}))
    check(document(), "GET", "/admin/v1/tenants/{name}/guard", client.get(GUARD, headers=admin))


def test_feed_readers_in_several_workers_make_one_hold(app: Flask, db_url: str, tmp_path: Path) -> None:
    secret = make_token(app, "acme")
    key = _admin_key(app)
    with live_server(db_url, tmp_path / "gunicorn.log", workers=3) as port:
        for index in range(11):
            body = {"schemas": [USER_URN], "userName": f"user{index}@acme.test"}
            status, _headers, user = call(port, "POST", "/scim/v2/Users", secret, body)
            assert status == 201, user
            patched = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"active": False}}]}
            assert call(port, "PATCH", f"/scim/v2/Users/{user['id']}", secret, patched)[0] == 200
        start, answers = threading.Barrier(8), []

        def read() -> None:
            start.wait(timeout=30)
            answers.append(call(port, "GET", f"{FEED}?limit=1000", key))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert [status for status, _headers, _body in answers] == [200] * 8
    assert len({json.dumps(body["held"], sort_keys=True) for _status, _headers, body in answers}) == 1
    with make_sessionmaker(app.extensions["scim.engine"])() as session:
        assert session.scalar(select(func.count()).select_from(GuardHold)) == 1


def test_a_reader_inside_a_writing_transaction_trips_the_guard_too(app: Flask, client: FlaskClient,
                                                                   auth: dict) -> None:
    """As the webhook fan-out reads: in a writing transaction of its own (on SQLite the guard works in it)."""
    for user_id in _users(client, auth, 11):
        _deactivate(client, auth, user_id)
    engine = app.extensions["scim.engine"]
    with make_sessionmaker(engine)() as session:
        tenant_id = tenants.get_by_name(session, "acme").id
    with write_transaction(engine) as connection:
        read = guard.deliverable(connection, tenant_id, 0, 1000)
        assert read.hold is not None and read.events[-1].kind == changes.USER_DEACTIVATED
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(GuardHold.event_id)) == read.hold.event_id
        again = guard.deliverable(session, tenant_id, 0, 1000)
        assert ([event.id for event in again.events], again.through, again.hold) == (
            [event.id for event in read.events], read.through, read.hold)
