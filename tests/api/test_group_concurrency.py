"""Concurrent membership PATCHes against a live multi-worker gunicorn lose no member.

Okta sends several PATCHes for one group close together; servers that read-modify-write the member list lost
members (idp-protocol.md §1.9, fleetdm/fleet #50724). Each test starts its own gunicorn (3 sync workers) on a free
port against the test database and stops that process, by its PID, when done.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from scim.schemas import GROUP_URN, PATCH_OP_URN
from storage import tenants
from storage.db import make_sessionmaker
from tests.conftest import make_token
from tests.storage.test_groups import insert_users

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30
REQUEST_SECONDS = 30


def free_port() -> int:
    """A port nothing listens on now (gunicorn cannot bind port 0): bind 127.0.0.1:0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """One HTTP request on its own connection; returns (status, headers, JSON body or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_SECONDS)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/scim+json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
    finally:
        connection.close()


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _wait_until_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if _healthy(port):
            return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer /healthz within {STARTUP_SECONDS}s:\n{log.read_text(errors='replace')}")


@contextmanager
def live_server(db_url: str, log: Path) -> Iterator[int]:
    """gunicorn with 3 workers on the test database; yields its port and stops that one process afterwards."""
    port = free_port()
    env = {**os.environ, "SCIM_DATABASE_URL": db_url, "SCIM_ACCESS_LOG": "", "SCIM_LOG_LEVEL": "WARNING",
           "SCIM_SECRET_KEY": secrets.token_hex(16)}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "3",
               "--timeout", str(REQUEST_SECONDS), "wsgi:app"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(process, port, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
