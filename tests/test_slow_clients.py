"""Slow clients against the documented deployment (`scim-server serve` with its defaults): 50 connections sending
their requests a byte a second leave the server answering everyone else at once, /healthz and SCIM reads alike."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path

from flask import Flask

from scim.schemas import USER_URN
from tests.conftest import make_token
from tests.live import call, served

SLOW_HEADS = 40  # request heads that never end
SLOW_BODIES = 10  # whole heads, then a Content-Length body a byte at a time
DRIP_SECONDS = 12  # how long the slow clients go on; the server's own deadline for a request is longer
ANSWERED_WITHIN = 1.0  # seconds; a server held by slow clients answers in tens of seconds, or never
CLIENT_TIMEOUT = 5.0


def _open_slow_clients(port: int, token: str) -> list[socket.socket]:
    clients = []
    for index in range(SLOW_HEADS + SLOW_BODIES):
        client = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
        clients.append(client)
        if index < SLOW_HEADS:
            client.sendall(b"GET /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            client.sendall(f"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                           "Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n".encode())
    return clients


def _drip(clients: list[socket.socket], stop: threading.Event, refused: list[int]) -> None:
    """One byte a second on every connection (header text or body whitespace) until `stop`."""
    while not stop.wait(1.0):
        for index, client in enumerate(clients):
            try:
                client.sendall(b"a" if index < SLOW_HEADS else b" ")
            except OSError:
                refused.append(index)


def _timed_get(port: int, path: str, token: str | None) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def test_fifty_slow_clients_leave_normal_requests_answered_at_once(app: Flask, db_url: str, tmp_path: Path) -> None:
    token = make_token(app, "acme")
    with served(db_url, tmp_path / "server.log") as (_process, port):
        status, _headers, user = call(port, "POST", "/scim/v2/Users", token,
                                      {"schemas": [USER_URN], "userName": "ann@example.com"})
        assert status == 201
        requests = [("/healthz", None), (f"/scim/v2/Users/{user['id']}", token),
                    ("/scim/v2/Users?filter=userName%20eq%20%22ann@example.com%22", token)]
        for path, credentials in requests:  # each path once before the slow clients come: nothing left to warm up
            assert _timed_get(port, path, credentials)[0] == 200
        clients = _open_slow_clients(port, token)
        stop, refused = threading.Event(), []
        dripper = threading.Thread(target=_drip, args=(clients, stop, refused), daemon=True)
        dripper.start()
        try:
            time.sleep(2.5)  # every slow client accepted and a few bytes into its request
            timings = []
            deadline = time.monotonic() + DRIP_SECONDS - 4
            while time.monotonic() < deadline:
                for path, credentials in requests:
                    status, elapsed = _timed_get(port, path, credentials)
                    assert status == 200
                    timings.append((path, round(elapsed, 3)))
                time.sleep(0.5)
            assert [timing for timing in timings if timing[1] > ANSWERED_WITHIN] == []
            assert refused == []  # the slow clients were still connected all along, still holding what they could
        finally:
            stop.set()
            dripper.join(timeout=5)
            for client in clients:
                client.close()
