"""The server's HTTP before the application: what gunicorn refuses (over-long request lines and headers, malformed
requests, a request not sent in time) is a SCIM Error in JSON, never gunicorn's HTML page; kept-alive, pipelined
and trickled requests are served."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from scim.errors import ERROR_URN
from tests.live import served

CLIENT_TIMEOUT = 10.0


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` on a connection of its own and read the answer to the end (the server closes after an error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as client:
        client.sendall(raw)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_scim_error(answer: tuple[int, dict[str, str], bytes], status: int) -> None:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == "application/scim+json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)
    assert error["schemas"] == [ERROR_URN] and error["status"] == str(status) and error["detail"]


REFUSED = {
    "request line over 4094 bytes": (b"GET /scim/v2/Users?filter=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                                     414),
    "header over 8190 bytes": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "over 100 headers": (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(120)) + b"\r\n",
                         431),
    "invalid header name": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400),
    "not a request line": (b"HELLO\r\n\r\n", 400),
    "unknown HTTP version": (b"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n", 400),
    "unsupported transfer coding": (b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n",
                                    501),
}


def test_what_gunicorn_refuses_is_a_scim_error(db_url: str, tmp_path: Path) -> None:
    with served(db_url, tmp_path / "server.log") as (_process, port):
        for name, (raw, status) in REFUSED.items():
            answer = _exchange(port, raw)
            assert b"<html" not in answer[2].lower(), name
            _assert_scim_error(answer, status)


def test_a_request_not_sent_in_time_is_a_408(db_url: str, tmp_path: Path) -> None:
    unfinished = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # a head without its end
                  b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"]  # a body short of its length
    with served(db_url, tmp_path / "server.log", SCIM_REQUEST_READ_TIMEOUT="2") as (_process, port):
        for raw in unfinished:
            started = time.monotonic()
            _assert_scim_error(_exchange(port, raw), 408)
            assert time.monotonic() - started < CLIENT_TIMEOUT


def test_kept_alive_pipelined_and_trickled_requests_are_served(db_url: str, tmp_path: Path) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with served(db_url, tmp_path / "server.log") as (_process, port), \
            socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as client:
        client.sendall(request * 2)  # two requests in one packet
        time.sleep(0.2)
        for piece in (request[:10], request[10:30], request[30:] + request[:5]):  # one request in pieces, over time
            client.sendall(piece)
            time.sleep(0.2)
        client.sendall(request[5:].replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 4
    assert data.count(b'{"status":"ok"}') == 4
