"""`scim-server deliver` as processes: killed with -9 mid-batch and started again, nothing is lost; two of them on
one database deliver each event once; the one beside `scim-server serve` is started again when it dies."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.cli import cli
from tests.api.test_webhooks import add_webhook, committed_events
from tests.interop.test_okta import okta_user
from tests.live import REPO, call, served, stop
from tests.test_crash_recovery import _alive, _children
from tests.webhook_receiver import Receiver, receiving

SETTINGS = {"SCIM_WEBHOOK_TIMEOUT": "1", "SCIM_WEBHOOK_THREADS": "4", "SCIM_WEBHOOK_BATCH": "8",
            "SCIM_WEBHOOK_RETRY_DELAYS": "0.2,0.2,0.2,0.2,0.2"}


@contextmanager
def delivering(db_url: str, log: Path, **environ: str) -> Iterator[subprocess.Popen[bytes]]:
    """`scim-server deliver` on the test database (with `environ` more); stopped (by its PID) afterwards if still
    running."""
    env = {**os.environ, "SCIM_DATABASE_URL": db_url, "SCIM_LOG_LEVEL": "WARNING", **SETTINGS, **environ}
    with log.open("ab") as output:
        process = subprocess.Popen([str(Path(sys.executable).with_name("scim-server")), "deliver"], cwd=REPO,
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            stop(process)


def create_users(client: FlaskClient, auth: dict[str, str], count: int) -> None:
    for number in range(count):
        response = client.post("/scim/v2/Users", json=okta_user(f"u{number}@atko.com", external_id=f"x{number}"),
                               headers=auth)
        assert response.status_code == 201


def event_ids(app: Flask) -> set[int]:
    return {event.id for event in committed_events(app)}


def test_a_deliverer_killed_mid_batch_loses_nothing_after_a_restart(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver:
        _id, receiver.secret = add_webhook(runner, receiver.url)
        receiver.delay = 0.1  # a batch takes a while: the kill lands inside one
        create_users(client, auth, 30)
        expected = event_ids(app)
        with delivering(db_url, tmp_path / "deliver.log") as first:
            receiver.wait_for(lambda r: len(r.events()) >= 5)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert receiver.event_ids() < expected
        receiver.delay = 0
        with delivering(db_url, tmp_path / "deliver.log"):
            receiver.wait_for(lambda r: r.event_ids() == expected)
        assert receiver.rejected == 0


def test_two_deliverers_on_one_database_deliver_each_event_once(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver:
        _id, receiver.secret = add_webhook(runner, receiver.url)
        with delivering(db_url, tmp_path / "a.log"), delivering(db_url, tmp_path / "b.log"):
            create_users(client, auth, 40)
            expected = event_ids(app)
            receiver.wait_for(lambda r: r.event_ids() == expected)
        ids = [message.id for message in receiver.events()]
        assert len(ids) == len(set(ids)) == len(expected)


def test_a_receiver_that_is_down_first_gets_every_event_after(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver:
        _id, receiver.secret = add_webhook(runner, receiver.url)
        receiver.answer = 503
        with delivering(db_url, tmp_path / "deliver.log"):
            create_users(client, auth, 10)
            receiver.wait_for(lambda r: r.attempts >= 10)
            receiver.answer = 200
            for number in range(5):  # later events of the same users, sent after their earlier ones
                client.delete(f"/scim/v2/Users/{_user_id(client, auth, number)}", headers=auth)
            expected = event_ids(app)
            receiver.wait_for(lambda r: r.event_ids() == expected)
        _assert_each_resource_in_order(receiver)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command), and a server context serving it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no certificate to serve HTTPS with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=receiver",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def test_an_https_receiver_is_verified_and_ssl_cert_file_trusts_a_private_ca(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, auth: dict[str, str], db_url: str, tmp_path: Path,
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, context = certificate
    with receiving(context) as receiver:
        endpoint_id, receiver.secret = add_webhook(runner, receiver.url)
        create_users(client, auth, 1)
        with delivering(db_url, tmp_path / "untrusted.log"):  # the system's roots only: the certificate is refused
            deadline = time.monotonic() + 60
            while "CERTIFICATE_VERIFY_FAILED" not in (shown := _deliveries(runner, endpoint_id)):
                assert time.monotonic() < deadline, shown
                time.sleep(0.1)
        assert receiver.events() == []
        with delivering(db_url, tmp_path / "trusted.log", SSL_CERT_FILE=str(cert)):
            receiver.wait_for(lambda r: r.event_ids() == event_ids(app))


def _deliveries(runner: FlaskCliRunner, endpoint_id: int) -> str:
    return runner.invoke(cli, ["webhook", "deliveries", str(endpoint_id)]).stdout


def _user_id(client: FlaskClient, auth: dict[str, str], number: int) -> str:
    found = client.get(f'/scim/v2/Users?filter=userName eq "u{number}@atko.com"', headers=auth).get_json()
    return found["Resources"][0]["id"]


def _assert_each_resource_in_order(receiver: Receiver) -> None:
    """The first arrival of each event, per resource, is in event id (commit) order."""
    seen: dict[str, list[int]] = {}
    firsts: set[str] = set()
    for message in receiver.events():
        if message.id not in firsts:
            firsts.add(message.id)
            seen.setdefault(message.body["data"]["resource_id"], []).append(int(message.id))
    assert all(ids == sorted(ids) for ids in seen.values())


def test_serve_delivers_by_default(
    app: Flask, runner: FlaskCliRunner, token: str, db_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver:
        _id, receiver.secret = add_webhook(runner, receiver.url)
        with served(db_url, tmp_path / "serve.log", SCIM_DELIVER="1") as (_master, port):
            status, _headers, _body = call(port, "POST", "/scim/v2/Users", token, okta_user("sam@atko.com"))
            assert status == 201
            receiver.wait_for(lambda r: r.event_ids() == event_ids(app))
        assert [m.body["type"] for m in receiver.events()] == ["user.created"]


def _deliverers_of(master: int) -> list[int]:
    """The `scim-server deliver` processes among the master's children."""
    return [pid for pid in _children(master) if b"deliver" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_serve_runs_one_deliverer_which_exits_with_its_master_and_none_when_told(
    db_url: str, tmp_path: Path, token: str
) -> None:
    with served(db_url, tmp_path / "quiet.log", SCIM_DELIVER="0") as (master, _port):
        assert _children(master.pid) and _deliverers_of(master.pid) == []
    with served(db_url, tmp_path / "serve.log", SCIM_DELIVER="1") as (master, _port):
        [deliverer] = _deliverers_of(master.pid)
        master.send_signal(signal.SIGKILL)
        master.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _alive(deliverer) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphaned = _alive(deliverer)
        if orphaned:
            os.kill(deliverer, signal.SIGKILL)
        assert not orphaned, "the deliverer outlived its master"


def test_serve_starts_another_deliverer_when_its_deliverer_dies(
    app: Flask, runner: FlaskCliRunner, token: str, db_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver:
        _id, receiver.secret = add_webhook(runner, receiver.url)
        with served(db_url, tmp_path / "serve.log", SCIM_DELIVER="1") as (master, port):
            [first] = _deliverers_of(master.pid)
            os.kill(first, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while _alive(first) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(first)
            status, _headers, _body = call(port, "POST", "/scim/v2/Users", token, okta_user("sam@atko.com"))
            assert status == 201
            receiver.wait_for(lambda r: r.event_ids() == event_ids(app))  # only a new deliverer can send it
            [second] = _deliverers_of(master.pid)
        assert second != first
        assert [m.body["type"] for m in receiver.events()] == ["user.created"]
    assert f"webhook deliverer (pid {first}) is gone; starting another" in (tmp_path / "serve.log").read_text()
