"""A group's version after one of its members is deleted (RFC 7644 §3.14): its membership changed, so its ETag does.

Deleting a user takes it out of its groups by cascade, without a write to any group of its own; the groups it was in
still move to a new version and lastModified, so a client holding the old ETag is refused, and the groups it was not
in keep theirs.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_foundation import assert_scim_error

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def new_user(client: FlaskClient, auth: dict[str, str], user_name: str) -> str:
    response = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": user_name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_group(client: FlaskClient, auth: dict[str, str], name: str, *member_ids: str) -> str:
    body = {"schemas": [GROUP_URN], "displayName": name, "members": [{"value": member} for member in member_ids]}
    response = client.post("/scim/v2/Groups", headers=auth, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def read(client: FlaskClient, auth: dict[str, str], group_id: str) -> tuple[str, dict[str, Any]]:
    """The group's ETag header and its `meta`."""
    response = client.get(f"/scim/v2/Groups/{group_id}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"], response.get_json()["meta"]


def delete_user(client: FlaskClient, auth: dict[str, str], user_id: str, how: str) -> None:
    """DELETE a user: plainly, with its current ETag as If-Match, or in a Bulk request."""
    if how == "bulk":
        response = client.post("/scim/v2/Bulk", headers=auth, json={"schemas": [BULK_URN], "Operations": [
            {"method": "DELETE", "path": f"/Users/{user_id}"}]})
        assert [result["status"] for result in response.get_json()["Operations"]] == ["204"]
        return
    headers = {}
    if how == "if-match":
        headers["If-Match"] = client.get(f"/scim/v2/Users/{user_id}", headers=auth).headers["ETag"]
    assert client.delete(f"/scim/v2/Users/{user_id}", headers={**auth, **headers}).status_code == 204


@pytest.mark.parametrize("how", ["plain", "if-match", "bulk"])
def test_deleting_a_member_moves_its_groups_to_a_new_version_and_leaves_the_others(
    client: FlaskClient, auth: dict[str, str], how: str
) -> None:
    ann, bob = new_user(client, auth, "ann@example.com"), new_user(client, auth, "bob@example.com")
    with_ann, without_ann = new_group(client, auth, "With Ann", ann, bob), new_group(client, auth, "Without", bob)
    (old_etag, old_meta), (other_etag, other_meta) = read(client, auth, with_ann), read(client, auth, without_ann)

    delete_user(client, auth, ann, how)

    etag, meta = read(client, auth, with_ann)
    assert etag == meta["version"] != old_etag == old_meta["version"]
    assert meta["lastModified"] > old_meta["lastModified"] and meta["created"] == old_meta["created"]
    assert read(client, auth, without_ann) == (other_etag, other_meta)
    url = f"/scim/v2/Groups/{with_ann}"
    assert client.get(url, headers={**auth, "If-None-Match": old_etag}).status_code == 200
    assert client.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304


def test_an_if_match_with_the_etag_from_before_the_member_was_deleted_is_refused(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    ann = new_user(client, auth, "ann@example.com")
    group_id = new_group(client, auth, "Engineering", ann)
    old_etag, _meta = read(client, auth, group_id)
    delete_user(client, auth, ann, "plain")

    url, stale = f"/scim/v2/Groups/{group_id}", {**auth, "If-Match": old_etag}
    rename = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]}
    assert_scim_error(client.patch(url, headers=stale, json=rename), 412)
    assert_scim_error(client.put(url, headers=stale, json={"schemas": [GROUP_URN], "displayName": "Renamed"}), 412)
    assert_scim_error(client.delete(url, headers=stale), 412)
    assert client.get(url, headers=auth).get_json()["displayName"] == "Engineering"
    fresh = {**auth, "If-Match": read(client, auth, group_id)[0]}
    assert client.patch(url, headers=fresh, json=rename).status_code == 204


def test_a_group_that_loses_two_members_moves_on_each_time(client: FlaskClient, auth: dict[str, str]) -> None:
    ann, bob = new_user(client, auth, "ann@example.com"), new_user(client, auth, "bob@example.com")
    group_id = new_group(client, auth, "Engineering", ann, bob)
    seen = [read(client, auth, group_id)[0]]
    for user_id in (ann, bob):
        delete_user(client, auth, user_id, "plain")
        seen.append(read(client, auth, group_id)[0])
    assert len(set(seen)) == 3
    assert "members" not in client.get(f"/scim/v2/Groups/{group_id}", headers=auth).get_json()


def test_deleting_a_user_in_no_group_changes_no_group(client: FlaskClient, auth: dict[str, str]) -> None:
    ann, bob = new_user(client, auth, "ann@example.com"), new_user(client, auth, "bob@example.com")
    group_id = new_group(client, auth, "Engineering", bob)
    before = read(client, auth, group_id)
    delete_user(client, auth, ann, "plain")
    assert read(client, auth, group_id) == before
