"""Concurrent membership PATCHes against a live multi-worker gunicorn lose no member.

Okta sends several PATCHes for one group close together; servers that read-modify-write the member list lost
members (idp-behaviour.md §1.9, fleetdm/fleet #50724). Each test starts its own gunicorn (3 sync workers) on a free
port against the test database and stops that process, by its PID, when done.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask

from scim.schemas import GROUP_URN, PATCH_OP_URN
from storage import tenants
from storage.db import make_sessionmaker
from tests.conftest import make_token
from tests.live import REQUEST_SECONDS, call, live_server
from tests.storage.test_groups import insert_users


def _one_member(member_id: str, op: str) -> dict[str, Any]:
    if op == "add":
        operation = {"op": "add", "path": "members", "value": [{"value": member_id}]}
    else:
        operation = {"op": "remove", "path": f'members[value eq "{member_id}"]'}
    return {"schemas": [PATCH_OP_URN], "Operations": [operation]}


def _concurrently(port: int, token: str, group_id: str, ids: list[str], op: str) -> list[int]:
    path = f"/scim/v2/Groups/{group_id}"
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(call, port, "PATCH", path, token, _one_member(member_id, op)) for member_id in ids]
        return [future.result(timeout=REQUEST_SECONDS * 4)[0] for future in futures]


def test_50_concurrent_single_member_adds_keep_every_member(app: Flask, db_url: str, tmp_path: Path) -> None:
    token = make_token(app, "acme")
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        ids = insert_users(session, tenants.get_by_name(session, "acme").id, 50)
    with live_server(db_url, tmp_path / "gunicorn.log") as port:
        status, _headers, group = call(port, "POST", "/scim/v2/Groups", token,
                                       {"schemas": [GROUP_URN], "displayName": "Okta push", "members": []})
        assert status == 201, group
        path = f"/scim/v2/Groups/{group['id']}"

        assert _concurrently(port, token, group["id"], ids, "add") == [204] * 50
        status, headers, body = call(port, "GET", path, token)
        assert status == 200
        assert sorted(member["value"] for member in body["members"]) == sorted(ids)
        assert headers["ETag"] == 'W/"51"'  # every add bumped the version once: none was lost or merged

        assert _concurrently(port, token, group["id"], ids[:25], "remove") == [204] * 25
        status, headers, body = call(port, "GET", path, token)
        assert sorted(member["value"] for member in body["members"]) == sorted(ids[25:])
        assert headers["ETag"] == 'W/"76"'
