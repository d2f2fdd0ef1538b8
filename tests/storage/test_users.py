"""storage.users.commit_create and commit_if_current: a user's write, its event and the commit as one statement on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from scim.errors import Uniqueness
from scim.payloads import ParsedResource
from storage import events, tenants, users
from storage.db import make_sessionmaker
from storage.events import Origin
from storage.models import Event, User, UserEmail
from storage.users import StoredUser
from tests.conftest import reading, reading_and_in_a_transaction

ORIGIN = Origin("PATCH", "/scim/v2/Users/x")


def _create(engine: Engine, *names: str) -> tuple[int, list[StoredUser]]:
    with make_sessionmaker(engine).begin() as session:
        tenant_id = tenants.create(session, "acme").id
        created = [users.create(session, tenant_id, f"00000000-0000-4000-8000-00000000000{index}",
                                ParsedResource({"userName": name, "active": True}))
                   for index, name in enumerate(names)]
    return tenant_id, created


def _deactivated(stored: StoredUser) -> list[dict[str, Any]]:
    return [events.entry(ORIGIN, events.USER_DEACTIVATED, 200, "User", stored.id, {"active": {"new": False}})]


def _created_event(stored: StoredUser) -> list[dict[str, Any]]:
    return [events.entry(ORIGIN, events.USER_CREATED, 201, "User", stored.id, {"userName": {"new": "…"}})]


def _emails(engine: Engine, user_id: str) -> list[tuple[Any, ...]]:
    columns = (UserEmail.tenant_id, UserEmail.position, UserEmail.value, UserEmail.value_key, UserEmail.type,
               UserEmail.primary, UserEmail.display)
    with make_sessionmaker(engine)() as session:
        query = select(*columns).where(UserEmail.user_id == user_id).order_by(UserEmail.position)
        return [tuple(row) for row in session.execute(query)]


def _stored(engine: Engine, tenant_id: int, user_id: str) -> tuple[StoredUser, list[tuple[str, str | None]]]:
    with make_sessionmaker(engine)() as session:
        logged = [(row.kind, row.resource_id) for row in session.scalars(select(Event).order_by(Event.id))]
        return users.get(session, tenant_id, user_id), logged


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_new_user_its_emails_and_its_event_commit_in_one_statement(pg_engine: Engine) -> None:
    with make_sessionmaker(pg_engine).begin() as session:
        tenant_id = tenants.create(session, "acme").id
    doc = {"userName": "Ann@example.com", "active": True, "emails": [
        {"value": "Ann@Example.com", "type": "work", "primary": True}, {"value": "ann@home.example", "display": "h"}]}
    ann, bob = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    statements = _statements(pg_engine)
    with reading(pg_engine) as connection:
        stored = users.commit_create(connection, tenant_id, ann, ParsedResource(doc), _created_event)
        assert len(statements) == 1 and not connection.in_transaction()
    assert (stored.id, stored.doc, stored.version, stored.groups) == (ann, doc, 1, ())
    assert _stored(pg_engine, tenant_id, ann) == (stored, [(events.USER_CREATED, ann)])
    with make_sessionmaker(pg_engine).begin() as session:  # the emails as a create in a transaction writes them
        users.create(session, tenant_id, bob, ParsedResource({**doc, "userName": "bob@example.com"}))
    assert len(_emails(pg_engine, ann)) == 2 and _emails(pg_engine, ann) == _emails(pg_engine, bob)


def test_a_new_user_with_a_taken_name_writes_nothing(pg_engine: Engine) -> None:
    tenant_id, [ann] = _create(pg_engine, "ann@example.com")
    doc = {"userName": "ANN@example.com", "emails": [{"value": "ann@example.com"}]}
    with reading(pg_engine) as connection:
        with pytest.raises(Uniqueness):
            users.commit_create(connection, tenant_id, "00000000-0000-4000-8000-00000000000c", ParsedResource(doc),
                                _created_event)
        assert users.get(connection, tenant_id, ann.id) == ann  # no transaction left aborted
    with make_sessionmaker(pg_engine)() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(UserEmail)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_the_update_and_its_event_commit_in_one_statement(pg_engine: Engine) -> None:
    with reading(pg_engine) as connection:
        tenant_id, [ann] = _create(pg_engine, "ann@example.com")
        statements = _statements(pg_engine)
        stored = users.commit_if_current(connection, tenant_id, ann, {**ann.doc, "active": False}, None, _deactivated)
        assert len(statements) == 1 and not connection.in_transaction()
        assert stored is not None and stored.version == 2 and stored.doc["active"] is False
        seen, logged = _stored(pg_engine, tenant_id, ann.id)  # another connection: committed
        assert (seen.version, seen.doc, seen.last_modified) == (2, stored.doc, stored.last_modified)
        assert logged == [(events.USER_DEACTIVATED, ann.id)]


def test_a_user_that_moved_on_is_left_alone_and_logs_nothing(pg_engine: Engine) -> None:
    with reading(pg_engine) as connection:
        tenant_id, [ann] = _create(pg_engine, "ann@example.com")
        moved = users.commit_if_current(connection, tenant_id, ann, {**ann.doc, "title": "Lead"}, None, _deactivated)
        assert moved is not None
        stale = users.commit_if_current(connection, tenant_id, ann, {**ann.doc, "active": False}, None, _deactivated)
        assert stale is None
        seen, logged = _stored(pg_engine, tenant_id, ann.id)
        assert seen.doc == moved.doc and seen.version == 2
        assert len(logged) == 1  # the first write's event only


def test_a_taken_user_name_writes_nothing_and_the_connection_goes_on(pg_engine: Engine) -> None:
    with reading(pg_engine) as connection:
        tenant_id, [ann, _bob] = _create(pg_engine, "ann@example.com", "bob@example.com")
        with pytest.raises(Uniqueness):
            users.commit_if_current(connection, tenant_id, ann, {**ann.doc, "userName": "BOB@example.com"}, None,
                                    _deactivated)
        assert users.get(connection, tenant_id, ann.id) == ann  # no transaction left aborted
        assert _stored(pg_engine, tenant_id, ann.id) == (ann, [])


def test_a_write_that_changes_nothing_logs_its_event_alone(pg_engine: Engine) -> None:
    with reading(pg_engine) as connection:
        tenant_id, [ann] = _create(pg_engine, "ann@example.com")
        statements = _statements(pg_engine)

        def updated(stored: StoredUser) -> Sequence[Mapping[str, Any]]:
            return [events.entry(ORIGIN, events.USER_UPDATED, 200, "User", stored.id, {})]

        assert users.commit_if_current(connection, tenant_id, ann, dict(ann.doc), None, updated) == ann
        assert len(statements) == 1
        assert _stored(pg_engine, tenant_id, ann.id) == (ann, [(events.USER_UPDATED, ann.id)])


def test_refused_where_it_would_not_be_one_update_committing_as_it_runs(engine: Engine) -> None:
    tenant_id, [ann] = _create(engine, "ann@example.com")
    emails, deactivated = {**ann.doc, "emails": [{"value": "ann@example.org"}]}, {**ann.doc, "active": False}
    assert not users.fits_one_statement(ann, emails) and users.fits_one_statement(ann, deactivated)
    with reading_and_in_a_transaction(engine) as (reading_connection, in_transaction):
        refused = [(reading_connection, emails), (in_transaction, deactivated)]
        if engine.dialect.name == "sqlite":
            refused.append((reading_connection, deactivated))
        for connection, doc in refused:
            with pytest.raises(ValueError):
                users.commit_if_current(connection, tenant_id, ann, doc, None, _deactivated)
        for connection in {connection for connection, _doc in refused[1:]}:
            with pytest.raises(ValueError):
                users.commit_create(connection, tenant_id, "00000000-0000-4000-8000-00000000000d",
                                    ParsedResource({"userName": "bob@example.com"}), _created_event)
    assert _stored(engine, tenant_id, ann.id) == (ann, [])
