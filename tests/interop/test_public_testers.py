"""The request shapes of the public testers (scim2-tester, scim-sanity) that `make conformance` found wanting, over
HTTP; docs/conformance.md has the run and the tester errors."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.interop.replay import ENTERPRISE, GROUP_URN, USER_URN, Idp

SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def tester(client: FlaskClient, token: str) -> Idp:
    return Idp(client, token, **{"User-Agent": "python-httpx"})


def test_a_patch_whose_path_is_the_extension_urn_sets_and_removes_the_whole_extension(tester: Idp) -> None:
    """scim2-tester's check_add/replace/remove_attribute: `path` = `urn:…:enterprise:2.0:User`."""
    manager = tester.post("/Users", {"schemas": [USER_URN], "userName": "boss"})
    user = tester.post("/Users", {"schemas": [USER_URN], "userName": "ann"})
    value = {"schemas": [ENTERPRISE], "employeeNumber": "7", "department": "R&D",
             "manager": {"value": manager["id"], "$ref": f"http://localhost/scim/v2/Users/{manager['id']}"}}
    added = tester.patch(f"/Users/{user['id']}", {"op": "add", "path": ENTERPRISE, "value": value})
    assert added["schemas"] == [USER_URN, ENTERPRISE]
    assert added[ENTERPRISE]["department"] == "R&D" and added[ENTERPRISE]["manager"]["value"] == manager["id"]
    replaced = tester.patch(f"/Users/{user['id']}", {"op": "replace", "path": ENTERPRISE, "value": {"division": "D"}})
    assert replaced[ENTERPRISE]["division"] == "D" and replaced[ENTERPRISE]["employeeNumber"] == "7"
    removed = tester.patch(f"/Users/{user['id']}", {"op": "remove", "path": ENTERPRISE})
    assert ENTERPRISE not in removed and removed["schemas"] == [USER_URN]


def test_a_search_across_all_resource_types_honours_attributes(tester: Idp) -> None:
    """scim2-tester's search_with_attributes: POST `/.search` at the root (RFC 7644 §3.4.3) with `attributes`."""
    user = tester.post("/Users", {"schemas": [USER_URN], "userName": "ann", "title": "CTO"})
    group = tester.post("/Groups", {"schemas": [GROUP_URN], "displayName": "g"})
    body = tester.call("POST", "/.search", {"schemas": [SEARCH_URN], "attributes": ["userName", "displayName"]},
                       status=200)
    assert body["totalResults"] == 2
    assert body["Resources"] == [{"schemas": [USER_URN], "id": user["id"], "userName": "ann"},
                                 {"schemas": [GROUP_URN], "id": group["id"], "displayName": "g"}]


def test_a_group_patch_returns_the_group_when_attributes_are_asked_for(tester: Idp) -> None:
    """RFC 7644 §3.5.2: 204 is allowed, but "the server MUST return a 200 OK if the attributes parameter is
    specified"; a query parameter that asks for nothing (Entra's `aadOptscim062020`) keeps the 204."""
    group = tester.post("/Groups", {"schemas": [GROUP_URN], "displayName": "g"})
    operation = {"op": "replace", "path": "displayName", "value": "h"}
    assert tester.patch(f"/Groups/{group['id']}?aadOptscim062020", operation) is None
    body = tester.patch(f"/Groups/{group['id']}?attributes=displayName", operation, status=200)
    assert body == {"schemas": [GROUP_URN], "id": group["id"], "displayName": "h"}
