"""Concurrent writes of users from several gunicorn workers: one userName created once, no PATCH lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from scim.schemas import PATCH_OP_URN, USER_URN
from tests.conftest import make_token
from tests.live import REQUEST_SECONDS, call, live_server


def test_racing_creates_of_one_user_name_give_one_201_and_409s(app: Flask, db_url: str, tmp_path: Path) -> None:
    token = make_token(app, "acme")
    bodies = [{"schemas": [USER_URN], "userName": name} for name in ["Race@Example.com", "race@example.com"] * 12]
    with live_server(db_url, tmp_path / "gunicorn.log") as port, ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(call, port, "POST", "/scim/v2/Users", token, body) for body in bodies]
        results = [future.result(timeout=REQUEST_SECONDS * 4) for future in futures]
        statuses = sorted(status for status, _headers, _body in results)
        assert statuses == [201] + [409] * 23
        assert all(body["scimType"] == "uniqueness" for status, _h, body in results if status == 409)
        lookup = "/scim/v2/Users?filter=userName%20eq%20%22RACE@example.com%22"
        status, _headers, listing = call(port, "GET", lookup, token)
    assert status == 200 and listing["totalResults"] == 1


def test_concurrent_patches_of_one_user_lose_no_change(app: Flask, db_url: str, tmp_path: Path) -> None:
    """Each PATCH adds a value to the user (a phone number, in the document only, or an email, which has rows of its
    own): a write that read the user before another committed must not write over that one's change."""
    token = make_token(app, "acme")
    phones = [f"+1 555 01{index:02}" for index in range(12)]
    emails = [f"ann{index}@example.com" for index in range(12)]
    patches = [{"op": "add", "path": "phoneNumbers", "value": [{"value": phone}]} for phone in phones]
    patches += [{"op": "add", "path": "emails", "value": [{"value": email, "type": "work"}]} for email in emails]
    with live_server(db_url, tmp_path / "gunicorn.log") as port:
        status, _headers, user = call(port, "POST", "/scim/v2/Users", token,
                                      {"schemas": [USER_URN], "userName": "ann@example.com"})
        assert status == 201, user
        path = f"/scim/v2/Users/{user['id']}"
        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(call, port, "PATCH", path, token,
                                   {"schemas": [PATCH_OP_URN], "Operations": [operation]}) for operation in patches]
            assert [future.result(timeout=REQUEST_SECONDS * 4)[0] for future in futures] == [200] * 24
        status, headers, stored = call(port, "GET", path, token)
        assert status == 200
        assert sorted(phone["value"] for phone in stored["phoneNumbers"]) == sorted(phones)
        assert sorted(email["value"] for email in stored["emails"]) == sorted(emails)
        assert headers["ETag"] == 'W/"25"'  # every PATCH wrote a version of its own
        for email in (emails[0], emails[-1]):
            status, _headers, found = call(port, "GET", f'/scim/v2/Users?filter=emails.value%20eq%20%22{email}%22',
                                           token)
            assert [resource["id"] for resource in found["Resources"]] == [user["id"]]
