"""The users store's writes (storage.users), on a request's reading Connection: each write and its event land
together or not at all, committed as the statement runs on PostgreSQL, in a writing transaction on SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from scim.errors import PreconditionFailed, Uniqueness
from scim.patch import compile_patch
from scim.payloads import ParsedResource, parse_resource
from scim.schemas import PATCH_OP_URN, USER
from storage import connections, tenants, users
from storage.db import make_sessionmaker
from storage.events import Origin
from storage.models import Event, User, UserEmail
from storage.users import StoredUser
from tests.conftest import reading

ORIGIN = Origin("PATCH", "/scim/v2/Users/x")
DOC = {"userName": "Ann@example.com", "active": True, "emails": [
    {"value": "Ann@Example.com", "type": "work", "primary": True}, {"value": "ann@home.example", "display": "h"}]}


def _tenant(engine: Engine) -> int:
    with make_sessionmaker(engine).begin() as session:
        return tenants.create(session, "acme").id


def _committed(connection: Connection, *, one_statement: bool = True) -> None:
    """What the request's view does after the store call; on PostgreSQL a one-statement write committed as it ran."""
    if connection.dialect.name == "postgresql" and one_statement:
        assert connections.is_reading(connection) and not connection.in_transaction()
    connections.commit(connection)


def _rolled_back(connection: Connection) -> None:
    """What the request's teardown does after an error."""
    connection.rollback()
    connections.start_reading(connection)


def _patch(*operations: dict[str, Any]) -> Any:
    return compile_patch({"schemas": [PATCH_OP_URN], "Operations": list(operations)}, USER)


def _seen(engine: Engine, tenant_id: int, user_id: str) -> tuple[StoredUser | None, list[str]]:
    """The user and the kinds of the events, as another connection sees them."""
    with make_sessionmaker(engine)() as session:
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
        found = session.scalar(select(func.count()).select_from(User).where(User.id == user_id))
        return (users.get(session, tenant_id, user_id) if found else None), kinds


def _emails(engine: Engine, user_id: str) -> list[tuple[Any, ...]]:
    columns = (UserEmail.position, UserEmail.value, UserEmail.value_key, UserEmail.type, UserEmail.primary,
               UserEmail.display)
    with make_sessionmaker(engine)() as session:
        query = select(*columns).where(UserEmail.user_id == user_id).order_by(UserEmail.position)
        return [tuple(row) for row in session.execute(query)]


def test_a_new_user_its_emails_and_its_event_land_together(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        stored = users.create(connection, tenant_id, USER, ParsedResource(dict(DOC)), ORIGIN)
        _committed(connection)
    assert (stored.doc, stored.version, stored.groups) == (DOC, 1, ())
    assert _seen(engine, tenant_id, stored.id) == (stored, ["user.created"])
    with engine.begin() as in_a_transaction:  # a create inside a caller's transaction (Bulk) writes the same rows
        other = users.create(in_a_transaction, tenant_id, USER,
                             ParsedResource({**DOC, "userName": "bob@example.com"}), ORIGIN)
    assert len(_emails(engine, stored.id)) == 2 and _emails(engine, stored.id) == _emails(engine, other.id)


def test_a_new_user_with_a_taken_name_writes_nothing(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        ann = users.create(connection, tenant_id, USER, ParsedResource({"userName": "ann@example.com"}), ORIGIN)
        _committed(connection)
        with pytest.raises(Uniqueness):
            users.create(connection, tenant_id, USER, ParsedResource({**DOC, "userName": "ANN@example.com"}), ORIGIN)
        _rolled_back(connection)
        assert users.get(connection, tenant_id, ann.id) == ann
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(UserEmail)) == 0
        assert list(session.scalars(select(Event.kind))) == ["user.created"]


@pytest.mark.parametrize("change", [{"op": "replace", "path": "active", "value": False},
                                    {"op": "replace", "path": "emails", "value": [{"value": "a@example.org"}]}])
def test_a_patch_and_its_event_land_together(engine: Engine, change: dict[str, Any]) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        ann = users.create(connection, tenant_id, USER, ParsedResource(dict(DOC)), ORIGIN)
        _committed(connection)
        stored = users.patch(connection, tenant_id, USER, ann.id, _patch(change), ann.etag, ORIGIN)
        _committed(connection, one_statement=change["path"] != "emails")  # new emails rewrite their rows
    kind = "user.deactivated" if change["path"] == "active" else "user.updated"
    assert stored.version == 2 and stored.doc[change["path"]] == change["value"]
    assert _seen(engine, tenant_id, ann.id) == (stored, ["user.created", kind])
    if change["path"] == "emails":
        assert [row[1] for row in _emails(engine, ann.id)] == ["a@example.org"]


def test_a_stale_if_match_and_a_taken_user_name_write_nothing(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        ann = users.create(connection, tenant_id, USER, ParsedResource({"userName": "ann@example.com"}), ORIGIN)
        users.create(connection, tenant_id, USER, ParsedResource({"userName": "bob@example.com"}), ORIGIN)
        _committed(connection)
        with pytest.raises(PreconditionFailed):
            users.patch(connection, tenant_id, USER, ann.id, _patch({"op": "replace", "path": "title", "value": "x"}),
                        'W/"7"', ORIGIN)
        _rolled_back(connection)
        with pytest.raises(Uniqueness):
            users.replace(connection, tenant_id, USER, ann.id, parse_resource({"userName": "BOB@example.com"}, USER),
                          None, ORIGIN)
        _rolled_back(connection)
        assert users.get(connection, tenant_id, ann.id) == ann
    assert _seen(engine, tenant_id, ann.id) == (ann, ["user.created", "user.created"])


def test_a_write_that_changes_nothing_keeps_the_version_and_logs_its_event(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        ann = users.create(connection, tenant_id, USER, ParsedResource({"userName": "ann@example.com"}), ORIGIN)
        _committed(connection)
        same = users.patch(connection, tenant_id, USER, ann.id,
                           _patch({"op": "replace", "path": "userName", "value": "ann@example.com"}), None, ORIGIN)
        _committed(connection)
    assert same == ann
    assert _seen(engine, tenant_id, ann.id) == (ann, ["user.created", "user.updated"])


def test_a_delete_bumps_its_groups_and_logs_its_event(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    with reading(engine) as connection:
        ann = users.create(connection, tenant_id, USER, ParsedResource({"userName": "ann@example.com"}), ORIGIN)
        _committed(connection)
        with pytest.raises(PreconditionFailed):
            users.delete(connection, tenant_id, ann.id, 'W/"9"', ORIGIN)
        _rolled_back(connection)
        users.delete(connection, tenant_id, ann.id, ann.etag, ORIGIN)
        _committed(connection, one_statement=False)
    assert _seen(engine, tenant_id, ann.id) == (None, ["user.created", "user.deleted"])

