"""Failed SCIM authentication: limited per client address (429 with Retry-After past the limit, shared by every worker
of a server), counted per address and minute rather than logged one event per request; a good token never refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from storage.db import make_sessionmaker
from storage.models import AuthFailure, Event
from tests.api.test_foundation import assert_scim_error
from tests.live import call, live_server

USERS = "/scim/v2/Users"
WRONG = {"Authorization": "Bearer scim_wrong-token-000000000000"}
ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"


@pytest.fixture
def limited(app: Flask) -> Flask:
    app.config["AUTH_FAILURES_PER_MINUTE"] = 3
    return app


def early_in_a_minute() -> None:
    """Counts are per minute: a test starts early enough in one to end in it too."""
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)


def fail(client: FlaskClient, address: str = ATTACKER, headers: dict[str, str] = WRONG):
    return client.get(USERS, headers=headers, environ_base={"REMOTE_ADDR": address})


def counted(app: Flask) -> dict[str, int]:
    """Failures per address, over the minutes counted."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        rows = session.execute(select(AuthFailure.client_ip, func.sum(AuthFailure.failures))
                               .group_by(AuthFailure.client_ip)).all()
    return {address: int(failures) for address, failures in rows}


def event_rows(app: Flask) -> int:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return session.scalar(select(func.count()).select_from(Event))


def test_past_the_limit_an_address_gets_429_with_retry_after_and_a_good_token_still_passes(
    limited: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    early_in_a_minute()
    for _attempt in range(3):
        assert_scim_error(fail(client), 401)
    for _attempt in range(3):
        response = fail(client)
        body = assert_scim_error(response, 429)
        assert "try again" in body["detail"]
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert_scim_error(fail(client, NEIGHBOUR), 401)  # another address has its own count
    assert fail(client, headers=auth).status_code == 200  # a good token from that address is never refused


def test_failures_are_counted_per_address_and_minute_and_logged_as_no_event(app: Flask, client: FlaskClient) -> None:
    early_in_a_minute()
    for _attempt in range(5):
        assert_scim_error(fail(client), 401)
    assert_scim_error(fail(client, NEIGHBOUR, headers={}), 401)  # no token at all
    assert_scim_error(fail(client, NEIGHBOUR, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert counted(app) == {ATTACKER: 5, NEIGHBOUR: 2}
    assert event_rows(app) == 0
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        minutes = session.scalars(select(AuthFailure.minute)).all()
    assert all(minute.second == 0 and minute.microsecond == 0 for minute in minutes)


def test_a_flood_past_the_limit_writes_a_few_counts_not_one_per_request(limited: Flask, client: FlaskClient) -> None:
    writes = []

    def count_writes(_connection, _cursor, statement: str, *_args) -> None:
        if "auth_failures" in statement:
            writes.append(statement)

    event.listen(limited.extensions["scim.engine"], "before_cursor_execute", count_writes)
    early_in_a_minute()
    statuses = [fail(client).status_code for _attempt in range(60)]
    assert statuses == [401] * 3 + [429] * 57
    assert len(writes) <= 4 + 2  # one per failure up to the first 429, then one every few seconds at most
    assert counted(limited)[ATTACKER] >= 4
    assert event_rows(limited) == 0


@pytest.fixture
def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """gunicorn with three workers, each its own process, allowing 5 failures per address and minute."""
    monkeypatch.setenv("SCIM_AUTH_FAILURES_PER_MINUTE", "5")
    with live_server(db_url, tmp_path / "gunicorn.log", workers=3) as port:
        yield port


def test_the_limit_is_shared_by_the_workers_of_a_server(server: int) -> None:
    early_in_a_minute()
    statuses = [call(server, "GET", USERS, f"scim_wrong-{attempt}")[0] for attempt in range(12)]
    # Each call is a connection of its own, spread over the workers: counted per worker, 15 could pass.
    assert statuses == [401] * 5 + [429] * 7
