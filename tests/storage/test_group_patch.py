"""storage.groups.commit_patch: a group PATCH, its events and the commit in one round trip on PostgreSQL (the group's
row lock, then one statement)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select, text

from scim.errors import Uniqueness
from scim.patch import Patch, apply, compile_patch
from scim.payloads import ParsedResource
from scim.schemas import GROUP, PATCH_OP_URN
from storage import events, groups, tenants
from storage.db import begin_write, make_sessionmaker
from storage.events import Origin
from storage.groups import MemberDelta, StoredGroup
from storage.models import Event, Group, GroupMember, utcnow
from tests.conftest import reading, reading_and_in_a_transaction
from tests.storage.test_groups import insert_users

ORIGIN = Origin("PATCH", "/scim/v2/Groups/x")


def _setup(engine: Engine, users: int, members: int) -> tuple[int, list[str], StoredGroup]:
    """A tenant with `users` users, the first `members` of them in a group; the group as a read returns it."""
    with make_sessionmaker(engine).begin() as session:
        tenant_id = tenants.create(session, "acme").id
        ids = insert_users(session, tenant_id, users)
        members_given = [{"value": member_id} for member_id in ids[:members]]
        group = groups.create(session, tenant_id, "00000000-0000-4000-8000-000000000001",
                              ParsedResource({"displayName": "Staff"}, members=members_given))
    return tenant_id, ids, dataclasses.replace(group, member_delta=MemberDelta())


def _operations(group_id: str, *operations: dict[str, Any]) -> Patch:
    return compile_patch({"schemas": [PATCH_OP_URN], "Operations": list(operations)}, GROUP, group_id)


def _add(*ids: str) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": member_id} for member_id in ids]}


def _remove(*ids: str) -> dict[str, Any]:
    return {"op": "remove", "path": "members", "value": [{"value": member_id} for member_id in ids]}


def _commit(connection: Connection, tenant_id: int, group: StoredGroup, operations: Patch) -> StoredGroup | None:
    """The PATCH as app.resources makes it: membership steps alone without a read first, document operations
    against `group`, the group as the request read it."""
    event_row = events.entry(ORIGIN, events.GROUP_UPDATED, 200, "Group", group.id)
    if not operations.document_ops:
        return groups.commit_patch(connection, tenant_id, group.id, operations.member_steps, event_row)
    doc = apply(operations, group.doc)
    changes = events.group_document_changes(GROUP, group.doc, doc)
    return groups.commit_patch(connection, tenant_id, group.id, operations.member_steps, event_row, group, doc,
                               changes)


def _state(engine: Engine, tenant_id: int, group_id: str) -> tuple[StoredGroup, set[str], list[tuple[str, Any]]]:
    """The group, its member ids and its events (kind, diff), from another connection: what is committed."""
    with make_sessionmaker(engine)() as session:
        logged = [(row.kind, row.diff) for row in session.scalars(select(Event).order_by(Event.id))]
        members = {member_id for member_id, _display in groups.members_of(session, tenant_id, [group_id])[group_id]}
        return groups.get(session, tenant_id, group_id), members, logged


def _expected(before: StoredGroup, doc: dict[str, Any], delta: MemberDelta) -> list[tuple[str, Any]]:
    """The events the transaction path logs for the same write (app.activity: events.changes_on_update)."""
    return [(change.kind, change.diff) for change in events.changes_on_update(GROUP, before.doc, doc, members=delta)]


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_rename_its_member_changes_and_their_events_commit_in_one_round_trip(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=4, members=2)
    operations = _operations(group.id, {"op": "replace", "value": {"displayName": "Staff 2"}},
                             _add(ids[2], "ghost", ids[3], ids[0]), _remove(ids[1], "absent"))
    statements = _statements(pg_engine)
    with reading(pg_engine) as connection:
        stored = _commit(connection, tenant_id, group, operations)
        assert len(statements) == 3 and not connection.in_transaction()  # plan mode, row lock, write: pipelined
    assert stored is not None
    delta = MemberDelta(added=(ids[2], ids[3]), removed=(ids[1],), skipped=("ghost",))
    assert (sorted(stored.member_delta.added), stored.member_delta.removed, stored.member_delta.skipped) == (
        sorted(delta.added), delta.removed, delta.skipped)
    assert (stored.version, stored.doc["displayName"]) == (2, "Staff 2")
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, seen.last_modified, seen.created) == (
        2, stored.doc, stored.last_modified, stored.created)
    assert members == {ids[0], ids[2], ids[3]}
    assert [kind for kind, _diff in logged] == [events.GROUP_RENAMED, events.GROUP_MEMBERS_ADDED,
                                                events.GROUP_MEMBERS_REMOVED]
    assert logged == _expected(group, stored.doc, delta)


def test_member_lists_in_events_are_capped_and_sorted_as_python_sorts_them(pg_engine: Engine) -> None:
    """Code-point order, whatever the database's collation: "Zed" < "_x" < "a-b" < "ab" (en_US puts them apart)."""
    tenant_id, ids, group = _setup(pg_engine, users=60, members=30)
    ghosts = ["ab", "Zed", "a-b", "_x", "ab"]  # one twice: skipped once
    operations = _operations(group.id, _add(*ids[30:55], *ghosts), _remove(*ids[:22]))
    with reading(pg_engine) as connection:
        stored = _commit(connection, tenant_id, group, operations)
    assert stored is not None and stored.member_delta.skipped == ("ab", "Zed", "a-b", "_x")  # the request's order
    delta = MemberDelta(added=tuple(ids[30:55]), removed=tuple(ids[:22]), skipped=("ab", "Zed", "a-b", "_x"))
    _seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert members == set(ids[22:55])
    assert logged == _expected(group, group.doc, delta)
    added = logged[0][1]["members"]
    assert added["added"]["count"] == 25 and len(added["added"]["ids"]) == events.MEMBER_IDS_SHOWN
    assert added["skipped"] == {"ids": ["Zed", "_x", "a-b", "ab"], "count": 4}


def test_a_patch_that_changes_nothing_keeps_the_version_and_logs_one_empty_update(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=2)
    with reading(pg_engine) as connection:
        stored = _commit(connection, tenant_id, group, _operations(group.id, _add(ids[0]), _remove(ids[2])))
    assert stored is not None and (stored.version, stored.member_delta) == (1, MemberDelta())
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen, members) == (group, {ids[0], ids[1]})
    assert logged == [(events.GROUP_UPDATED, {})]


def test_the_write_is_planned_once_and_never_scans_the_group_to_delete(pg_engine: Engine) -> None:
    """The write runs a generic plan (made once, for any group): its DELETE must not scan the group, which the
    statistics of many small groups make look cheap (it did, written `group_id = $g AND member_id = ANY($ids)`)."""
    tenant_id, ids, group = _setup(pg_engine, users=400, members=300)
    now = utcnow()
    with make_sessionmaker(pg_engine).begin() as session:
        small = [{"id": f"00000000-0000-4000-9000-{index:012d}", "tenant_id": tenant_id, "display_name": f"g{index}",
                  "display_name_key": f"g{index}", "doc": {"displayName": f"g{index}"}, "created": now,
                  "last_modified": now, "version": 1} for index in range(1500)]
        session.execute(insert(Group), small)
        session.execute(insert(GroupMember), [{"group_id": row["id"], "member_id": ids[300 + index % 100],
                                               "tenant_id": tenant_id} for index, row in enumerate(small)])
        session.execute(text("ANALYZE"))
    plans: list[str] = []
    with reading(pg_engine) as connection:
        driver_connection = connection.connection.driver_connection
        driver_connection.add_notice_handler(lambda diagnostic: plans.append(diagnostic.message_primary or ""))
        for statement in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                          "SET client_min_messages = log"):
            connection.exec_driver_sql(statement)
        for index in range(8):  # psycopg prepares a statement on its sixth run
            assert _commit(connection, tenant_id, group, _operations(group.id, _remove(ids[index])))
        prepared = connection.exec_driver_sql("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                              "WHERE statement LIKE '%%group_events%%'").all()
        connection.exec_driver_sql("RESET client_min_messages")
    assert prepared and all(generic > 0 and custom == 0 for generic, custom in prepared), prepared
    [last] = [plan for plan in plans if "Delete on group_members" in plan][-1:]
    deleting = last[last.index("CTE removed"):]
    deleting = deleting[:deleting.index("\n  CTE ")]
    assert "Index Cond: ((group_id)::text = ($" not in deleting, last  # the whole group, by the group's id alone


def test_document_operations_apply_only_to_the_version_read(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    with reading(pg_engine) as connection:
        assert _commit(connection, tenant_id, group, _operations(group.id, _add(ids[1]))) is not None
        rename = _operations(group.id, {"op": "replace", "path": "displayName", "value": "Ops"}, _remove(ids[0]))
        assert _commit(connection, tenant_id, group, rename) is None  # the group moved on since `group` was read
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, members) == (2, group.doc, {ids[0], ids[1]})
    assert [kind for kind, _diff in logged] == [events.GROUP_MEMBERS_ADDED]  # the first write's event only


def test_membership_steps_apply_to_the_group_as_it_is(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    with reading(pg_engine) as connection:
        first = _commit(connection, tenant_id, group, _operations(group.id, _add(ids[1])))
        second = _commit(connection, tenant_id, group, _operations(group.id, _add(ids[2]), _remove(ids[0])))
    assert first is not None and second is not None and (first.version, second.version) == (2, 3)
    seen, members, _logged = _state(pg_engine, tenant_id, group.id)
    assert (seen, members) == (dataclasses.replace(second, member_delta=MemberDelta()), {ids[1], ids[2]})


def test_no_such_group_writes_nothing(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=2, members=1)
    missing = dataclasses.replace(group, id="00000000-0000-4000-8000-0000000000aa")
    with reading(pg_engine) as connection:
        assert _commit(connection, tenant_id, missing, _operations(missing.id, _add(ids[1]))) is None
    assert _state(pg_engine, tenant_id, group.id) == (group, {ids[0]}, [])


def test_a_taken_display_name_writes_nothing_and_the_connection_goes_on(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    with make_sessionmaker(pg_engine).begin() as session:
        other = ParsedResource({"displayName": "Ops"})
        groups.create(session, tenant_id, "00000000-0000-4000-8000-0000000000ff", other)
    operations = _operations(group.id, {"op": "replace", "path": "displayName", "value": "OPS"}, _add(ids[1]))
    with reading(pg_engine) as connection:
        with pytest.raises(Uniqueness):
            _commit(connection, tenant_id, group, operations)
        assert groups.get(connection, tenant_id, group.id) == group  # no transaction left aborted
    assert _state(pg_engine, tenant_id, group.id) == (group, {ids[0]}, [])


def _behind_an_open_group_write(engine: Engine, tenant_id: int, group: StoredGroup, adding: str,
                                second: Callable[[Connection], StoredGroup | None]) -> StoredGroup | None:
    """Hold a transaction that locked the group and added `adding` to it, run `second` meanwhile and check that it
    waits for the group's row; then commit the transaction. Returns what `second` returned."""
    result: list[StoredGroup | None] = []
    with make_sessionmaker(engine)() as session:
        begin_write(session)
        locked = groups.get(session, tenant_id, group.id, for_update=True)
        groups.patch(session, tenant_id, locked, _operations(group.id, _add(adding)))

        def run() -> None:
            with reading(engine) as connection:
                result.append(second(connection))

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the PATCH did not wait for the group's row"
        session.commit()
    thread.join(30)
    assert len(result) == 1
    return result[0]


def test_a_patch_that_waited_for_the_group_sees_the_members_the_other_write_added(pg_engine: Engine) -> None:
    """The row lock comes first, in a statement of its own, so the write's statement reads the members as they are
    once it is granted: a PATCH that waited for another write removes the member that write added (one statement
    would have read them from before it waited, and missed it)."""
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    operations = _operations(group.id, _remove(ids[1]), _add(ids[2]))
    stored = _behind_an_open_group_write(pg_engine, tenant_id, group, ids[1],
                                         lambda connection: _commit(connection, tenant_id, group, operations))
    assert stored is not None and stored.version == 3
    assert (stored.member_delta.added, stored.member_delta.removed) == ((ids[2],), (ids[1],))
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, members) == (3, {ids[0], ids[2]})
    assert [kind for kind, _diff in logged] == [events.GROUP_MEMBERS_ADDED, events.GROUP_MEMBERS_REMOVED]


def test_a_rename_that_waited_for_the_group_gives_way_to_the_write_that_held_it(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    rename = _operations(group.id, {"op": "replace", "path": "displayName", "value": "Ops"}, _add(ids[2]))
    stored = _behind_an_open_group_write(pg_engine, tenant_id, group, ids[1],
                                         lambda connection: _commit(connection, tenant_id, group, rename))
    assert stored is None  # the caller starts over under the lock
    seen, members, _logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, members) == (2, group.doc, {ids[0], ids[1]})


def test_refused_where_it_would_not_be_one_round_trip_committing_as_it_runs(engine: Engine) -> None:
    tenant_id, ids, group = _setup(engine, users=2, members=1)
    add = _operations(group.id, _add(ids[1]))
    clear = _operations(group.id, {"op": "replace", "path": "members", "value": [{"value": ids[1]}]})
    assert groups.fits_one_round_trip(add) and not groups.fits_one_round_trip(clear)
    with reading_and_in_a_transaction(engine) as (reading_connection, in_transaction):
        refused = [(reading_connection, clear), (in_transaction, add)]
        if engine.dialect.name == "sqlite":
            refused.append((reading_connection, add))
        for connection, operations in refused:
            with pytest.raises(ValueError):
                _commit(connection, tenant_id, group, operations)
    assert _state(engine, tenant_id, group.id) == (group, {ids[0]}, [])
