"""Concurrent creates of one userName from several gunicorn workers: exactly one 201, the rest 409, one row."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from scim.schemas import USER_URN
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
