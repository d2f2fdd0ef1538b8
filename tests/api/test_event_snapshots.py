"""events.snapshot: every SCIM write's events carry the resource as a GET returns it after the write (but for
meta.location, a user's groups and a group's members), its ETag, and a membership event's complete member lists;
on each path a write takes (PostgreSQL's one-statement writes, its one-round-trip group PATCH, transactions, Bulk)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from scim import changes
from storage.db import make_sessionmaker
from storage.models import Event, Token
from tests.api.test_activity import ENTERPRISE, GROUP_URN, USER_URN, new_group, new_user, operations, stored_events
from tests.api.test_bulk import patch_op, post_group, post_user, resource_id, run
from tests.api.test_tenant_schemas import add_schema
from tests.storage.test_groups import insert_users


def as_of_now(client: FlaskClient, auth: dict, endpoint: str, resource_id: str) -> tuple[dict[str, Any], str]:
    """What a snapshot of the resource must hold now: the GET's body without meta.location, groups and members,
    and the GET's ETag."""
    response = client.get(f"/scim/v2/{endpoint}/{resource_id}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    del body["meta"]["location"]
    body.pop("groups", None)
    body.pop("members", None)
    return body, response.headers["ETag"]


def events_of(app: Flask, resource_id: str) -> list[Event]:
    return [event for event in stored_events(app) if event.resource_id == resource_id]


def assert_last_events_show_it(
    app: Flask, client: FlaskClient, auth: dict, endpoint: str, resource_id: str, count: int = 1
) -> list[Event]:
    """The last `count` events of the resource each hold it as a GET returns it now; returns them."""
    resource, version = as_of_now(client, auth, endpoint, resource_id)
    last = events_of(app, resource_id)[-count:]
    for event in last:
        assert event.snapshot is not None, event.kind
        assert (event.snapshot["version"], event.snapshot["resource"]) == (version, resource), event.kind
    return last


def test_each_user_write_snapshots_the_user_as_get_returns_it(app: Flask, client: FlaskClient, auth: dict) -> None:
    user = new_user(client, auth, name={"givenName": "Ann"}, password="s3cret!x", emails=[
        {"value": "ann@example.com", "type": "work", "primary": True}], schemas=[USER_URN, ENTERPRISE],
        **{ENTERPRISE: {"department": "R&D"}})
    url = f"/scim/v2/Users/{user['id']}"
    [created] = assert_last_events_show_it(app, client, auth, "Users", user["id"])
    assert created.kind == changes.USER_CREATED and sorted(created.snapshot) == ["resource", "version"]
    assert "password" not in created.snapshot["resource"]
    writes = [
        lambda: client.patch(url, headers=auth, json=operations(
            {"op": "replace", "path": "name.givenName", "value": "Anne"})),
        lambda: client.patch(url, headers=auth, json=operations({"op": "replace", "value": {"active": False}})),
        lambda: client.put(url, headers=auth, json={"schemas": [USER_URN], "userName": "ann@example.com",
                                                   "active": True, "name": {"givenName": "Anne"}}),
        lambda: client.patch(url, headers=auth, json=operations(  # the emails change: a transaction on PostgreSQL
            {"op": "add", "path": "emails", "value": [{"value": "ann@work.example", "type": "work"}]})),
        lambda: client.patch(url, headers=auth, json=operations(  # changes nothing: the same version
            {"op": "replace", "path": "name.givenName", "value": "Anne"})),
        lambda: client.patch(url, headers=auth, json=operations({"op": "replace", "path": "password",
                                                                "value": "n3w-secret"})),
    ]
    for write in writes:
        assert write().status_code == 200
        assert_last_events_show_it(app, client, auth, "Users", user["id"])
    group = new_group(client, auth, members=[{"value": user["id"]}])
    assert client.get(url, headers=auth).get_json()["groups"]  # a GET lists them, a snapshot never does
    resource, version = as_of_now(client, auth, "Users", user["id"])
    assert client.delete(url, headers=auth).status_code == 204
    deleted = events_of(app, user["id"])[-1]
    assert (deleted.kind, deleted.snapshot) == (changes.USER_DELETED, {"version": version, "resource": None})
    assert resource["meta"]["version"] == version
    assert events_of(app, group["id"])[-1].kind == changes.GROUP_CREATED


def test_each_group_write_snapshots_the_group_and_the_member_ids_it_changed(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    ids = sorted(new_user(client, auth, f"u{index}@example.com")["id"] for index in range(4))
    group = new_group(client, auth, "Staff", members=[{"value": ids[2]}, {"value": ids[0]}, {"value": "ghost"}])
    url = f"/scim/v2/Groups/{group['id']}"
    [created] = assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert created.snapshot["members"] == {"added": [ids[0], ids[2]], "removed": []}

    # The one-round-trip PATCH on PostgreSQL: its events and snapshots are built in SQL.
    assert client.patch(url, headers=auth, json=operations(
        {"op": "replace", "path": "displayName", "value": "Staff 2"},
        {"op": "add", "path": "members", "value": [{"value": ids[3]}, {"value": ids[1]}]},
        {"op": "remove", "path": "members", "value": [{"value": ids[0]}]})).status_code == 204
    renamed, added, removed = assert_last_events_show_it(app, client, auth, "Groups", group["id"], 3)
    assert [renamed.kind, added.kind, removed.kind] == [
        changes.GROUP_RENAMED, changes.GROUP_MEMBERS_ADDED, changes.GROUP_MEMBERS_REMOVED]
    assert "members" not in renamed.snapshot
    assert added.snapshot["members"] == {"added": [ids[1], ids[3]], "removed": []}
    assert removed.snapshot["members"] == {"added": [], "removed": [ids[0]]}

    # A clear (a transaction on both databases), a PUT, a PATCH that changes nothing.
    assert client.patch(url, headers=auth, json=operations(
        {"op": "replace", "path": "members", "value": [{"value": ids[0]}]})).status_code == 204
    added, removed = assert_last_events_show_it(app, client, auth, "Groups", group["id"], 2)
    assert (added.snapshot["members"], removed.snapshot["members"]) == (
        {"added": [ids[0]], "removed": []}, {"added": [], "removed": sorted([ids[1], ids[2], ids[3]])})
    put = {"schemas": [GROUP_URN], "displayName": "Staff 3", "externalId": "x-1",
           "members": [{"value": ids[0]}, {"value": ids[1]}]}
    assert client.put(url, headers=auth, json=put).status_code == 200
    renamed, updated, added = assert_last_events_show_it(app, client, auth, "Groups", group["id"], 3)
    assert [renamed.kind, updated.kind, added.kind] == [
        changes.GROUP_RENAMED, changes.GROUP_UPDATED, changes.GROUP_MEMBERS_ADDED]
    assert added.snapshot["members"] == {"added": [ids[1]], "removed": []}
    assert client.patch(url, headers=auth, json=operations(
        {"op": "add", "path": "members", "value": [{"value": ids[0]}]})).status_code == 204
    [unchanged] = assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert unchanged.kind == changes.GROUP_UPDATED and unchanged.snapshot["version"] == 'W/"4"'

    _resource, version = as_of_now(client, auth, "Groups", group["id"])
    assert client.delete(url, headers=auth).status_code == 204
    deleted = events_of(app, group["id"])[-1]
    assert (deleted.kind, deleted.snapshot) == (changes.GROUP_DELETED, {"version": version, "resource": None})


def test_a_membership_event_of_thousands_carries_every_id(app: Flask, client: FlaskClient, auth: dict) -> None:
    """The diff shows MEMBER_IDS_SHOWN ids and the count; the snapshot every id, in code-point order."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = session.scalars(select(Token.tenant_id)).one()
        ids = insert_users(session, tenant_id, 3000)
    group = new_group(client, auth, "Everyone")
    url = f"/scim/v2/Groups/{group['id']}"
    put = {"schemas": [GROUP_URN], "displayName": "Everyone", "members": [{"value": user_id} for user_id in ids]}
    assert client.put(url, headers=auth, json=put).status_code == 200
    [added] = assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert added.diff["members"]["added"]["count"] == 3000
    assert len(added.diff["members"]["added"]["ids"]) == changes.MEMBER_IDS_SHOWN
    assert added.snapshot["members"] == {"added": sorted(ids), "removed": []}
    removing = [{"value": user_id} for user_id in ids[:2999]]
    assert client.patch(url, headers=auth, json=operations(  # in one round trip on PostgreSQL
        {"op": "remove", "path": "members", "value": removing})).status_code == 204
    [removed] = assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert removed.snapshot["members"] == {"added": [], "removed": sorted(ids[:2999])}


def test_bulk_operations_snapshot_what_they_wrote_and_a_failed_one_leaves_none(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    results = run(client, auth, post_user("u", "ann"), post_group("g", "Alpha", "bulkId:u"),
                  patch_op("/Users/bulkId:u", {"op": "add", "value": {"nickName": "Annie"}}))
    assert [result["status"] for result in results] == ["201", "201", "200"]
    user_id, group_id = resource_id(results[0]), resource_id(results[1])
    [patched] = assert_last_events_show_it(app, client, auth, "Users", user_id)
    created = events_of(app, user_id)[0]
    assert (created.kind, created.snapshot["version"], patched.snapshot["version"]) == (
        changes.USER_CREATED, 'W/"1"', 'W/"2"')
    assert (created.snapshot["resource"]["userName"], created.snapshot["resource"]["meta"]["version"]) == (
        "ann", 'W/"1"') and "nickName" not in created.snapshot["resource"]  # as of its own write
    [group_created] = assert_last_events_show_it(app, client, auth, "Groups", group_id)
    assert group_created.snapshot["members"] == {"added": [user_id], "removed": []}
    before = len(stored_events(app))
    results = run(client, auth,
                  patch_op(f"/Groups/{group_id}", {"op": "remove", "path": "members", "value": [{"value": user_id}]},
                           {"op": "replace", "path": "displayName", "value": "Beta"}),
                  post_user("dup", "ANN"), post_group("c", "Gamma"))
    assert [result["status"] for result in results] == ["200", "409", "201"]
    logged = stored_events(app)[before:]
    # The rolled-back POST left no event, so no snapshot; the others snapshot what a GET shows.
    assert [event.kind for event in logged] == [
        changes.GROUP_RENAMED, changes.GROUP_MEMBERS_REMOVED, changes.GROUP_CREATED]
    assert_last_events_show_it(app, client, auth, "Groups", group_id, 2)
    assert_last_events_show_it(app, client, auth, "Groups", resource_id(results[2]))
    assert logged[1].snapshot["members"] == {"added": [], "removed": [user_id]}


def test_an_attribute_a_get_leaves_out_is_left_out_of_the_snapshot(
    app: Flask, client: FlaskClient, auth: dict
) -> None:
    """A tenant's extension attribute returned only on request: the snapshot is the GET's, on every path (the
    one-round-trip PATCH does not render such a group: it leaves it to the transaction)."""
    urn = "urn:example:scim:schemas:acme:2.0:Group"
    add_schema(app, "acme", "Group", {"id": urn, "name": "AcmeGroup", "attributes": [
        {"name": "teamCode", "type": "string", "returned": "request"}, {"name": "site", "type": "string"}]})
    user = new_user(client, auth)
    group = new_group(client, auth, "Acme", schemas=[GROUP_URN, urn], **{urn: {"teamCode": "red", "site": "PAR"}})
    assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert client.patch(f"/scim/v2/Groups/{group['id']}", headers=auth, json=operations(
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]})).status_code == 204
    [added] = assert_last_events_show_it(app, client, auth, "Groups", group["id"])
    assert added.snapshot["resource"][urn] == {"site": "PAR"}
    assert added.snapshot["resource"]["schemas"] == [GROUP_URN, urn]


def test_a_rejected_request_has_no_snapshot(app: Flask, client: FlaskClient, auth: dict) -> None:
    response = client.get("/scim/v2/Users/00000000-0000-4000-8000-000000000000", headers=auth)
    assert response.status_code == 404
    [rejected] = stored_events(app)
    assert (rejected.kind, rejected.snapshot) == (changes.REQUEST_REJECTED, None)
