"""storage.groups against both databases: membership deltas, skipped members, versions, projections, cascades."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from scim.errors import NotFound, PreconditionFailed, Uniqueness
from scim.patch import compile_patch
from scim.payloads import parse_resource
from scim.projection import Projection
from scim.schemas import GROUP, GROUP_URN, PATCH_OP_URN, USER
from storage import groups, memberships, tenants, users
from storage.db import begin_write, make_sessionmaker
from storage.events import Origin
from storage.groups import StoredGroup
from storage.models import User, utcnow

BASE = "https://scim.example/scim/v2"
ORIGIN = Origin("PATCH", "/scim/v2/Groups/x")


# -- helpers (the API tests and bench/groups.py use them too) ---------------------------------------


def insert_users(session: Session, tenant_id: int, count: int, prefix: str = "user") -> list[str]:
    """Insert `count` users in bulk (one statement per 5,000 rows); returns their ids in insertion order."""
    now = utcnow()
    rows = []
    for index in range(count):
        user_name = f"{prefix}{index}@example.com"
        rows.append({"id": str(uuid.uuid4()), "tenant_id": tenant_id, "user_name": user_name,
                     "user_name_key": user_name.lower(), "doc": {"userName": user_name}, "created": now,
                     "last_modified": now, "version": 1})
    for start in range(0, count, 5000):
        session.execute(insert(User), rows[start:start + 5000])
    return [row["id"] for row in rows]


@contextmanager
def recorded_sql(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements `engine` sends while the block runs."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def touching_members(statements: list[str]) -> list[str]:
    return [statement for statement in statements if "group_members" in statement]


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    session = make_sessionmaker(engine)()
    begin_write(session)
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def tenant_id(session: Session) -> int:
    tenant = tenants.create(session, "acme")
    session.flush()
    return tenant.id


def make_group(session: Session, tenant_id: int, name: str = "Engineering", members: list[Any] | None = None
               ) -> StoredGroup:
    body: dict[str, Any] = {"schemas": [GROUP_URN], "displayName": name}
    if members is not None:
        body["members"] = [member if isinstance(member, dict) else {"value": member} for member in members]
    return groups.create(session.connection(), tenant_id, GROUP, parse_resource(body, GROUP), ORIGIN)


def patch(session: Session, tenant_id: int, group: StoredGroup, *operations: dict[str, Any]) -> StoredGroup:
    body = {"schemas": [PATCH_OP_URN], "Operations": list(operations)}
    return groups.patch(session.connection(), tenant_id, GROUP, group.id, compile_patch(body, GROUP, group.id), None,
                        ORIGIN)


def patch_if_match(session: Session, tenant_id: int, group: StoredGroup, if_match: str) -> StoredGroup:
    body = {"schemas": [PATCH_OP_URN], "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]}
    return groups.patch(session.connection(), tenant_id, GROUP, group.id, compile_patch(body, GROUP, group.id),
                        if_match, ORIGIN)


def member_ids(session: Session, tenant_id: int, group: StoredGroup) -> list[str]:
    return [member_id for member_id, _display in memberships.members_of(session, tenant_id, [group.id])[group.id]]


def values(ids: list[str]) -> list[dict[str, str]]:
    return [{"value": member_id} for member_id in ids]


# -- tests ------------------------------------------------------------------------------------------


def test_create_stores_users_of_the_tenant_and_skips_the_rest(
    session: Session, tenant_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    known = insert_users(session, tenant_id, 3)
    other_tenant = tenants.create(session, "globex")
    session.flush()
    foreign = insert_users(session, other_tenant.id, 1, prefix="foreign")
    nested = make_group(session, tenant_id, "Nested")
    with caplog.at_level(logging.WARNING, logger="storage.memberships"):
        group = make_group(session, tenant_id, members=[
            *known, "no-such-user", foreign[0], {"value": nested.id, "type": "Group"},
            {"value": known[0], "type": "user"},
        ])
    assert sorted(member_ids(session, tenant_id, group)) == sorted(known)
    assert sorted(group.member_delta.skipped) == sorted(["no-such-user", foreign[0], nested.id])
    assert group.version == 1
    message = caplog.records[-1].getMessage()
    assert f"tenant {tenant_id}" in message and group.id in message and "no-such-user" in message


def test_the_warning_names_at_most_100_skipped_ids_and_the_result_has_them_all(
    session: Session, tenant_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    ghosts = [f"ghost-{index}" for index in range(150)]
    with caplog.at_level(logging.WARNING, logger="storage.memberships"):
        group = make_group(session, tenant_id, members=ghosts)
    assert group.member_delta.skipped == tuple(ghosts)
    message = caplog.records[-1].getMessage()
    assert "150 member id(s)" in message and "ghost-99," not in message and "ghost-99 and 50 more" in message


def test_ids_are_validated_and_written_in_chunks_of_at_most_500(
    engine: Engine, session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 1203)
    with recorded_sql(engine) as statements:
        group = make_group(session, tenant_id, members=[*ids, "ghost-1", "ghost-2"])
    assert len(member_ids(session, tenant_id, group)) == 1203
    assert group.member_delta.skipped == ("ghost-1", "ghost-2")
    assert len([sql for sql in statements if sql.lstrip().upper().startswith("INSERT INTO GROUP_MEMBERS")]) == 3
    group = patch(session, tenant_id, group, {"op": "remove", "path": "members", "value": values(ids[:1100])})
    assert sorted(member_ids(session, tenant_id, group)) == sorted(ids[1100:])
    assert group.version == 2


def test_random_patch_sequences_agree_with_applying_each_step_to_a_set(session: Session, tenant_id: int) -> None:
    """Folding steps into one delta per request gives what applying them one by one would (RFC 7644 §3.5.2)."""
    universe = [*insert_users(session, tenant_id, 8), "unknown-a", "unknown-b"]
    group = make_group(session, tenant_id)
    model: set[str] = set()
    unchanged = 0
    rng = random.Random(7643)
    for _request in range(120):
        operations, expected = [], set(model)
        for _op in range(rng.randint(1, 4)):
            kind = rng.choice(["add", "remove", "remove-filter", "remove-all", "replace"])
            picked = rng.sample(universe, rng.randint(1, 4))
            if kind == "add":
                operations.append({"op": "add", "path": "members", "value": values(picked)})
                expected |= set(picked)
            elif kind == "remove":
                operations.append({"op": "remove", "path": "members", "value": values(picked)})
                expected -= set(picked)
            elif kind == "remove-filter":
                operations.append({"op": "remove", "path": f'members[value eq "{picked[0]}"]'})
                expected.discard(picked[0])
            elif kind == "remove-all":
                operations.append({"op": "remove", "path": "members"})
                expected = set()
            else:
                operations.append({"op": "replace", "path": "members", "value": values(picked)})
                expected = set(picked)
        expected -= {"unknown-a", "unknown-b"}
        before = group.version
        group = patch(session, tenant_id, group, *operations)
        assert set(member_ids(session, tenant_id, group)) == expected, operations
        assert group.version == before + (expected != model)
        unchanged += expected == model
        model = expected
    assert unchanged >= 10  # requests that change nothing were exercised too


def test_adding_or_removing_one_member_costs_the_same_statements_in_a_small_and_a_big_group(
    engine: Engine, session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 3002)
    counts = []
    for group in (make_group(session, tenant_id, "Small", ids[:10]), make_group(session, tenant_id, "Big", ids[:3000])):
        with recorded_sql(engine) as statements:
            group = patch(session, tenant_id, group, {"op": "add", "path": "members", "value": values(ids[-1:])})
            group = patch(session, tenant_id, group, {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
        assert len(touching_members(statements)) == 2  # one INSERT, one DELETE
        assert group.version == 3
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_to_resources_reads_members_only_when_they_are_returned(
    engine: Engine, session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 3)
    users.replace(session.connection(), tenant_id, USER, ids[1],
                  parse_resource({"userName": "user1@example.com", "displayName": "Ann"}, USER), None, ORIGIN)
    group = make_group(session, tenant_id, members=ids)
    for attributes, excluded in [(None, "members"), ("displayName", None), ("externalId", None)]:
        projection = Projection.parse(GROUP, attributes, excluded)
        with recorded_sql(engine) as statements:
            [body] = groups.to_resources(session, tenant_id, [group], projection, BASE)
        assert "members" not in body and not touching_members(statements)
    [body] = groups.to_resources(session, tenant_id, [group], Projection.parse(GROUP, None, None), BASE)
    displays = {ids[0]: "user0@example.com", ids[1]: "Ann", ids[2]: "user2@example.com"}
    assert body["members"] == [
        {"value": user_id, "$ref": f"{BASE}/Users/{user_id}", "display": displays[user_id], "type": "User"}
        for user_id in sorted(ids)
    ]
    assert body["meta"]["location"] == f"{BASE}/Groups/{group.id}"


def test_to_resources_loads_the_members_of_several_groups_in_one_query(
    engine: Engine, session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 4)
    stored = [make_group(session, tenant_id, f"G{index}", members=ids[index:]) for index in range(4)]
    stored.append(make_group(session, tenant_id, "Empty"))
    with recorded_sql(engine) as statements:
        bodies = groups.to_resources(session, tenant_id, stored, Projection.parse(GROUP, None, None), BASE)
    assert len(touching_members(statements)) == 1
    assert [len(body.get("members", [])) for body in bodies] == [4, 3, 2, 1, 0]


def test_replace_makes_the_given_members_the_membership_and_keeps_it_without_members(
    session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 4)
    group = make_group(session, tenant_id, members=ids[:3])

    def put(body: dict[str, Any]) -> StoredGroup:
        return groups.replace(session.connection(), tenant_id, GROUP, group.id, parse_resource(body, GROUP), None,
                              ORIGIN)

    group = put({"displayName": "Engineering", "members": values([ids[1], ids[3], "ghost"])})
    assert sorted(member_ids(session, tenant_id, group)) == sorted([ids[1], ids[3]])
    assert (group.version, group.member_delta.skipped) == (2, ("ghost",))
    group = put({"displayName": "Engineering", "members": values([ids[3], ids[1]])})
    assert group.version == 2  # the same members and document: nothing written
    group = put({"displayName": "Platform"})
    assert sorted(member_ids(session, tenant_id, group)) == sorted([ids[1], ids[3]])
    assert (group.version, group.doc) == (3, {"displayName": "Platform"})
    group = put({"displayName": "Platform", "members": []})
    assert member_ids(session, tenant_id, group) == []
    assert group.version == 4


def test_a_change_that_changes_nothing_keeps_the_version(session: Session, tenant_id: int) -> None:
    ids = insert_users(session, tenant_id, 2)
    group = make_group(session, tenant_id, members=ids[:1])
    group = patch(session, tenant_id, group, {"op": "add", "path": "members", "value": values(ids[:1])},
                  {"op": "remove", "path": "members", "value": values(ids[1:])},
                  {"op": "replace", "path": "displayName", "value": "Engineering"})
    assert group.version == 1
    assert groups.get(session, tenant_id, group.id).last_modified == group.last_modified


def test_a_taken_display_name_in_any_case_is_uniqueness(session: Session, tenant_id: int) -> None:
    """On PostgreSQL the violation aborts the transaction: a caller that goes on wrote in a savepoint (Bulk does)."""
    make_group(session, tenant_id, "Engineering")
    with pytest.raises(Uniqueness), session.begin_nested():
        make_group(session, tenant_id, "ENGINEERING")
    other = make_group(session, tenant_id, "Sales")
    with pytest.raises(Uniqueness), session.begin_nested():
        patch(session, tenant_id, other, {"op": "replace", "path": "displayName", "value": "engineering"})
    assert groups.get(session, tenant_id, other.id).doc == {"displayName": "Sales"}


def test_deleting_a_group_keeps_its_users_and_deleting_a_user_leaves_its_groups(
    session: Session, tenant_id: int
) -> None:
    ids = insert_users(session, tenant_id, 3)
    kept = make_group(session, tenant_id, "Kept", members=ids)
    gone = make_group(session, tenant_id, "Gone", members=ids[:2])
    assert users.get(session, tenant_id, ids[0]).groups == ((gone.id, "Gone"), (kept.id, "Kept"))
    groups.delete(session.connection(), tenant_id, gone.id, None, ORIGIN)
    with pytest.raises(NotFound):
        groups.get(session, tenant_id, gone.id)
    assert [users.get(session, tenant_id, user_id).id for user_id in ids] == ids
    users.delete(session.connection(), tenant_id, ids[0], None, ORIGIN)
    assert sorted(member_ids(session, tenant_id, kept)) == sorted(ids[1:])
    assert [users.get(session, tenant_id, user_id).groups for user_id in ids[1:]] == [((kept.id, "Kept"),)] * 2


def test_another_tenants_group_is_not_found(session: Session, tenant_id: int) -> None:
    group = make_group(session, tenant_id)
    other = tenants.create(session, "globex")
    session.flush()
    with pytest.raises(NotFound):
        groups.get(session, other.id, group.id)
    with pytest.raises(NotFound):
        groups.delete(session.connection(), other.id, group.id, None, ORIGIN)
    assert groups.get(session, tenant_id, group.id).id == group.id


def test_a_stale_if_match_is_refused_and_the_current_one_writes(session: Session, tenant_id: int) -> None:
    group = make_group(session, tenant_id)
    for if_match in ('W/"2"', '"2"', "W/2"):
        with pytest.raises(PreconditionFailed), session.begin_nested():
            patch_if_match(session, tenant_id, group, if_match)
    assert patch_if_match(session, tenant_id, group, 'W/"1"').doc["displayName"] == "Renamed"
    assert groups.get(session, tenant_id, group.id).version == 2
