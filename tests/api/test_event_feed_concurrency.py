"""The change feed under concurrent writers: every event exactly once, in commit order, whatever the interleaving.

The trap (storage/events.py): ids are taken at INSERT, so without serialisation a reader could see a later id
commit first and move its cursor past an earlier one for good. These tests hold a writer open after its insert
(the next writer must wait), and page through the feed while threads, and then a 3-worker gunicorn, write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy import event as sa_event

from scim import changes
from storage import admin_keys, events, tenants
from storage.db import begin_write, make_sessionmaker
from storage.events import Origin
from storage.models import utcnow
from tests.conftest import make_token
from tests.live import call, live_server
from tests.locks import WAIT_SECONDS, wait_until_blocked

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
WRITERS = 6
REQUESTS_PER_WRITER = 16


def issue_admin_key(app: Flask) -> str:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return admin_keys.issue(session, "feed-test")[1]


def all_event_ids(app: Flask) -> list[int]:
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        return [row[0].id for row in events.read(session, limit=100_000)]


# -- two writers, one held open after its insert ------------------------------------------------------------------


def write_behind_an_open_event_writer(app: Flask, tenant_id: int, second: Callable[[], None]) -> list[str]:
    """Hold a writer open after its event's insert, run `second` meanwhile and check that it waits and that nothing
    is visible yet; then release it. Returns the resource ids of the events, in id order."""
    maker = make_sessionmaker(app.extensions["scim.engine"])
    origin = Origin("POST", "/scim/v2/Users", tenant_id)
    inserted, release, second_done = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []
    held: list[Connection] = []

    def hold(connection: Connection) -> None:
        # Registered after storage.events' commit listener: runs once the event is inserted, just before COMMIT.
        if connection in held:
            inserted.set()
            release.wait(WAIT_SECONDS)

    def first() -> None:
        session = maker()
        try:
            begin_write(session)
            held.append(session.connection())
            events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "first"))
            session.commit()
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            session.close()

    def then() -> None:
        try:
            second()
        except BaseException as error:
            failures.append(error)
        finally:
            second_done.set()

    engine = app.extensions["scim.engine"]
    sa_event.listen(engine, "commit", hold)
    threads = [threading.Thread(target=first), threading.Thread(target=then)]
    threads[0].start()
    assert inserted.wait(WAIT_SECONDS)
    threads[1].start()
    try:
        wait_until_blocked(app.extensions["scim.engine"], second_done, "a second event writer")
        with maker() as reader:
            assert events.read(reader, limit=10) == []  # nothing is visible before the first commits
    finally:
        release.set()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        sa_event.remove(engine, "commit", hold)
    assert not failures, failures
    with maker() as reader:
        return [row[0].resource_id for row in events.read(reader, limit=10)]


def test_a_writer_waits_for_the_open_event_writer_so_ids_follow_commit_order(app: Flask) -> None:
    maker = make_sessionmaker(app.extensions["scim.engine"])
    with maker.begin() as session:
        tenant_id = tenants.create(session, "acme").id
    origin = Origin("POST", "/scim/v2/Users", tenant_id)

    def second() -> None:
        with maker.begin() as session:
            begin_write(session)
            events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "second"))

    assert write_behind_an_open_event_writer(app, tenant_id, second) == ["first", "second"]


def test_a_user_patch_waits_for_the_open_event_writer_too(app: Flask) -> None:
    """Also on PostgreSQL, where a user PATCH writes the user, its event and the commit in one statement
    (storage.users, on PostgreSQL): its event still comes after the open writer's, and so does its change."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {make_token(app, 'acme')}"}
    created = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": "ann@example.com"})
    user_id = created.get_json()["id"]
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.find_by_name(session, "acme").id
        events.prune(session, utcnow())  # the creation's event: only the two below are compared
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "value": {"active": False}}]}

    def second() -> None:
        response = client.patch(f"/scim/v2/Users/{user_id}", headers=auth, json=patch)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["active"] is False

    assert write_behind_an_open_event_writer(app, tenant_id, second) == ["first", user_id]
    assert client.get(f"/scim/v2/Users/{user_id}", headers=auth).get_json()["active"] is False


def test_a_group_patch_waits_for_the_open_event_writer_too(app: Flask) -> None:
    """Also on PostgreSQL, where a group PATCH writes its members, the group and its events and commits in one
    round trip (storage.group_patch): its events come after the open writer's, in order."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {make_token(app, 'acme')}"}
    user_id = client.post("/scim/v2/Users", headers=auth,
                          json={"schemas": [USER_URN], "userName": "ann@example.com"}).get_json()["id"]
    group_id = client.post("/scim/v2/Groups", headers=auth,
                           json={"schemas": [GROUP_URN], "displayName": "Staff"}).get_json()["id"]
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.find_by_name(session, "acme").id
        events.prune(session, utcnow())  # the creations' events: only the ones below are compared
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Staff 2"},
        {"op": "add", "path": "members", "value": [{"value": user_id}]}]}

    def second() -> None:
        response = client.patch(f"/scim/v2/Groups/{group_id}", headers=auth, json=patch)
        assert response.status_code == 204, response.get_json()

    assert write_behind_an_open_event_writer(app, tenant_id, second) == ["first", group_id, group_id]
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        kinds = [row[0].kind for row in events.read(session, limit=10)]
    assert kinds == [changes.USER_CREATED, changes.GROUP_RENAMED, changes.GROUP_MEMBERS_ADDED]
    members = client.get(f"/scim/v2/Groups/{group_id}", headers=auth).get_json()["members"]
    assert [member["value"] for member in members] == [user_id]


def test_a_savepoint_rolled_back_takes_its_events_along(app: Flask) -> None:
    maker = make_sessionmaker(app.extensions["scim.engine"])
    with maker.begin() as session:
        tenant_id = tenants.create(session, "acme").id
    origin = Origin("POST", "/scim/v2/Bulk", tenant_id)
    with maker() as session:
        events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "kept"))
        with pytest.raises(RuntimeError), session.begin_nested():
            events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "rolled-back"))
            raise RuntimeError
        with session.begin_nested():
            events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "kept-too"))
        session.commit()
        events.stage(session, events.entry(origin, changes.USER_CREATED, 201, "User", "never"))
        session.rollback()
        session.commit()
    with maker() as reader:
        assert [row[0].resource_id for row in events.read(reader, limit=10)] == ["kept", "kept-too"]


# -- many writers, one reader paging concurrently ---------------------------------------------------------------


def drive(write: Callable[[int, int], None], read_page: Callable[[str | None], dict[str, Any]]) -> list[dict]:
    """Run WRITERS threads of REQUESTS_PER_WRITER writes while one reader pages the feed; then drain it."""
    seen: list[dict] = []
    failures: list[BaseException] = []
    writing = threading.Event()
    writing.set()
    cursor: list[str | None] = [None]

    def page() -> bool:
        body = read_page(cursor[0])
        seen.extend(body["events"])
        cursor[0] = body["next_cursor"]
        return body["has_more"]

    def writer(number: int) -> None:
        try:
            for index in range(REQUESTS_PER_WRITER):
                write(number, index)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    def reader() -> None:
        try:
            while writing.is_set():
                page()
                time.sleep(0.005)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    writing.clear()
    reading.join(60)
    assert not failures, failures
    while page():
        pass
    return seen


def assert_exactly_once_in_order(seen: list[dict], stored_ids: list[int]) -> None:
    ids = [events.decode_cursor(event["id"]) for event in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert ids == sorted(ids), "events came out of commit order"
    assert ids == stored_ids, "an event was skipped"


def user_body(number: int, index: int) -> dict[str, Any]:
    """Every other write is a valid create; the others are 400s, logged as request.rejected in their own
    transactions."""
    user_name = f"w{number}-{index}@example.com" if index % 2 == 0 else 12345
    return {"schemas": [USER_URN], "userName": user_name}


def assert_kinds(seen: list[dict]) -> None:
    kinds = [event["kind"] for event in seen]
    half = WRITERS * REQUESTS_PER_WRITER // 2
    assert kinds.count(changes.USER_CREATED) == half and kinds.count(changes.REQUEST_REJECTED) == half


def test_threads_writing_while_a_reader_pages_see_every_event_once_in_order(app: Flask) -> None:
    scim = {"Authorization": f"Bearer {make_token(app, 'acme')}", "Content-Type": "application/scim+json"}
    admin = {"Authorization": f"Bearer {issue_admin_key(app)}"}
    local = threading.local()

    def client() -> Any:
        if not hasattr(local, "client"):
            local.client = app.test_client()
        return local.client

    def write(number: int, index: int) -> None:
        response = client().post("/scim/v2/Users", headers=scim, json=user_body(number, index))
        assert response.status_code in (201, 400), response.get_json()

    def read_page(cursor: str | None) -> dict[str, Any]:
        query = {"limit": 7, **({"after": cursor} if cursor else {})}
        return client().get("/admin/v1/events", headers=admin, query_string=query).get_json()

    seen = drive(write, read_page)
    assert_kinds(seen)
    assert_exactly_once_in_order(seen, all_event_ids(app))


# -- several processes: gunicorn with 3 workers -------------------------------------------------------------------


def test_gunicorn_workers_writing_while_a_reader_pages_see_every_event_once_in_order(
    app: Flask, db_url: str, tmp_path: Path
) -> None:
    token, admin_key = make_token(app, "acme"), issue_admin_key(app)
    with live_server(db_url, tmp_path / "gunicorn.log") as port:

        def write(number: int, index: int) -> None:
            status, _headers, body = call(port, "POST", "/scim/v2/Users", token, user_body(number, index))
            assert status in (201, 400), body

        def read_page(cursor: str | None) -> dict[str, Any]:
            after = f"&after={cursor}" if cursor else ""
            status, _headers, body = call(port, "GET", f"/admin/v1/events?limit=5{after}", admin_key)
            assert status == 200, body
            return body

        seen = drive(write, read_page)
    assert_kinds(seen)
    assert_exactly_once_in_order(seen, all_event_ids(app))
