"""OneLogin, JumpCloud and PingFederate/PingOne, replayed (idp-behaviour §4)."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.interop.replay import GROUP_URN, USER_URN, Idp, assert_error, member_ids


def user_body(user_name: str, **changes) -> dict:
    return {"schemas": [USER_URN], "userName": user_name, "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": user_name, "type": "work", "primary": True}], "active": True, **changes}


def test_onelogin_connect_then_provision(client: FlaskClient, token: str) -> None:
    """§4 OneLogin: a userName filter for a user that does not exist (empty list), then user filter, create, get
    by id, update, GET /Groups, create group, PATCH group (lowercase ops), DELETE user, list users."""
    onelogin = Idp(client, token, **{"User-Agent": "OneLogin SCIM"})
    assert onelogin.find(f'/Users?filter=userName eq "{uuid.uuid4()}@onelogin.invalid"') == []
    assert onelogin.find('/Users?filter=userName eq "ann@x"') == []
    user = onelogin.post("/Users", user_body("ann@x"))
    assert onelogin.get(f"/Users/{user['id']}")["userName"] == "ann@x"
    updated = onelogin.put(f"/Users/{user['id']}", user_body("ann@x", title="CTO"))
    assert updated["title"] == "CTO"
    updated = onelogin.patch(f"/Users/{user['id']}", {"op": "add", "path": "nickName", "value": "Annie"})
    assert updated["nickName"] == "Annie" and updated["title"] == "CTO"
    assert onelogin.get("/Groups")["totalResults"] == 0
    group = onelogin.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Sales"})
    onelogin.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": user["id"]}]})
    assert member_ids(onelogin.get(f"/Groups/{group['id']}")) == [user["id"]]
    onelogin.delete(f"/Users/{user['id']}")
    assert "members" not in onelogin.get(f"/Groups/{group['id']}")  # a deleted user leaves its groups
    assert onelogin.find("/Users") == []


def test_jumpcloud_connection_test_and_deletes(client: FlaskClient, token: str) -> None:
    """§4 JumpCloud: the connection test is a plain GET /Users; users and managed groups are deleted."""
    jumpcloud = Idp(client, token)
    assert jumpcloud.find("/Users") == []
    user = jumpcloud.post("/Users", user_body("bob@x"))
    group = jumpcloud.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Eng",
                                       "members": [{"value": user["id"]}]})
    jumpcloud.delete(f"/Groups/{group['id']}")
    jumpcloud.delete(f"/Users/{user['id']}")
    assert_error(jumpcloud.get(f"/Users/{user['id']}", status=404), 404)
    assert jumpcloud.find("/Groups") == []


def test_ping_updates_by_put_deprovisions_with_active_false_and_pushes_whole_groups(
    client: FlaskClient, token: str
) -> None:
    """§4 PingFederate/PingOne: `Eq` as the operator, updates and deprovisioning by PUT (the user stays readable and
    findable, inactive), groups by PUT with all members, then DELETE."""
    ping = Idp(client, token, **{"User-Agent": "PingFederate"})
    assert ping.find('/Users?filter=userName Eq "cid@x"') == []
    user = ping.post("/Users", user_body("cid@x"))
    other = ping.post("/Users", user_body("dee@x"))
    assert [found["id"] for found in ping.find('/Users?filter=userName Eq "CID@x"')] == [user["id"]]
    assert ping.put(f"/Users/{user['id']}", user_body("cid@x", title="VP"))["title"] == "VP"
    assert ping.put(f"/Users/{user['id']}", user_body("cid@x", active=False))["active"] is False
    found = ping.find('/Users?filter=userName Eq "cid@x" AND active Eq false')
    assert [(item["id"], item["active"]) for item in found] == [(user["id"], False)]

    group = ping.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Ops", "members": [{"value": user["id"]}]})
    both = [{"value": user["id"]}, {"value": other["id"]}]
    path = f"/Groups/{group['id']}"
    assert member_ids(ping.put(path, {"schemas": [GROUP_URN], "displayName": "Ops", "members": both})) == sorted(
        [user["id"], other["id"]])
    only_other = ping.put(path, {"schemas": [GROUP_URN], "displayName": "Ops", "members": [{"value": other["id"]}]})
    assert member_ids(only_other) == [other["id"]]
    ping.delete(path)
    ping.delete(f"/Users/{user['id']}")
    assert_error(ping.get(f"/Users/{user['id']}", status=404), 404)


def test_a_patch_body_without_schemas_is_accepted_from_lenient_clients(client: FlaskClient, token: str) -> None:
    """RFC 7644 §3.5.2 requires the PatchOp URN; clients that leave `schemas` out are accepted, a wrong one is not."""
    idp = Idp(client, token)
    user = idp.post("/Users", user_body("eve@x"))
    ok = idp.call("PATCH", f"/Users/{user['id']}", {"Operations": [{"op": "replace", "path": "title", "value": "X"}]},
                  status=200)
    assert ok["title"] == "X"
    wrong = idp.call("PATCH", f"/Users/{user['id']}", {"schemas": [USER_URN], "Operations": []}, status=400)
    assert_error(wrong, 400, "invalidSyntax")
