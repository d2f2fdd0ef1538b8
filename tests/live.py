"""A live gunicorn for tests that need several worker processes: bounded, on 127.0.0.1, stopped by its PID."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90  # a loaded CI machine (pytest -n) starts 3 workers slowly
REQUEST_SECONDS = 30


def free_port() -> int:
    """A port nothing listens on now (gunicorn cannot bind port 0): bind 127.0.0.1:0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(
    port: int, method: str, path: str, token: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request on its own connection, `headers` added to its own; returns (status, headers, body): the body
    parsed when it is JSON, else its text, None when empty."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_SECONDS)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/scim+json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if not data:
            return response.status, dict(response.getheaders()), None
        is_json = "json" in (response.getheader("Content-Type") or "")
        return response.status, dict(response.getheaders()), json.loads(data) if is_json else data.decode()
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
def live_server(
    db_url: str, log: Path, workers: int = 3, environment: Mapping[str, str] | None = None
) -> Iterator[int]:
    """gunicorn with `workers` workers on the test database, `environment` added to the process's; yields its port
    and stops that process afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--timeout", str(REQUEST_SECONDS), "wsgi:app"]
    with running(command, db_url, log, port, dict(environment or {})):
        yield port


@contextmanager
def served(db_url: str, log: Path, **environ: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`scim-server serve` with its defaults, as `make run` and the README start it (`environ`: SCIM_* settings to
    add); yields (master process, port)."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("scim-server")), "serve", "--bind", f"127.0.0.1:{port}"]
    with running(command, db_url, log, port, environ) as process:
        yield process, port


@contextmanager
def running(
    command: list[str], db_url: str, log: Path, port: int, environ: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` (a server listening on `port`) on the test database until it answers /healthz; stopped after."""
    env = {**os.environ, "SCIM_DATABASE_URL": db_url, "SCIM_ACCESS_LOG": "", "SCIM_LOG_LEVEL": "WARNING",
           "SCIM_SECRET_KEY": secrets.token_hex(16),
           "SCIM_DELIVER": "0", **(environ or {})}  # a test that needs the webhook deliverer turns it on
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(process, port, log)
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started, by its PID: SIGTERM, then SIGKILL if it is still there after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
