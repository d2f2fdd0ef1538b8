"""storage.group_patch: a group PATCH, its events and the commit in one round trip on PostgreSQL (the group's row
lock, then one statement), and the same events as the transaction path's (scim.changes)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select, text

from scim import changes
from scim.changes import MemberDelta
from scim.errors import NotFound, Uniqueness
from scim.patch import Patch, compile_patch
from scim.payloads import ParsedResource
from scim.schemas import GROUP, PATCH_OP_URN
from storage import documents, group_patch, groups, memberships, tenants
from storage.db import begin_write, make_sessionmaker
from storage.events import Origin
from storage.group_rows import StoredGroup
from storage.models import Event, Group, GroupMember, utcnow
from tests.conftest import reading
from tests.locks import WAIT_SECONDS, wait_until_blocked
from tests.storage.test_groups import insert_users

ORIGIN = Origin("PATCH", "/scim/v2/Groups/x")


def _setup(engine: Engine, users: int, members: int) -> tuple[int, list[str], StoredGroup]:
    """A tenant with `users` users, the first `members` of them in a group; the group as a read returns it."""
    with make_sessionmaker(engine).begin() as session:
        tenant_id = tenants.create(session, "acme").id
        ids = insert_users(session, tenant_id, users)
        members_given = [{"value": member_id} for member_id in ids[:members]]
        group = groups.create(session.connection(), tenant_id, GROUP,
                              ParsedResource({"displayName": "Staff"}, members=members_given), ORIGIN)
    return tenant_id, ids, dataclasses.replace(group, member_delta=MemberDelta())


def _operations(group_id: str, *operations: dict[str, Any]) -> Patch:
    return compile_patch({"schemas": [PATCH_OP_URN], "Operations": list(operations)}, GROUP, group_id)


def _add(*ids: str) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": member_id} for member_id in ids]}


def _remove(*ids: str) -> dict[str, Any]:
    return {"op": "remove", "path": "members", "value": [{"value": member_id} for member_id in ids]}


def _commit(connection: Connection, tenant_id: int, group: StoredGroup, operations: Patch,
            if_match: str | None = None) -> StoredGroup | None:
    """The PATCH in one round trip, as the groups store first tries it; None when it is not made so."""
    return group_patch.patch(connection, tenant_id, GROUP, group.id, operations, if_match, ORIGIN)


def _state(engine: Engine, tenant_id: int, group_id: str) -> tuple[StoredGroup, set[str], list[tuple[str, Any]]]:
    """The group, its member ids and its events (kind, diff), from another connection: what is committed."""
    with make_sessionmaker(engine)() as session:
        logged = [(row.kind, row.diff) for row in session.scalars(select(Event).order_by(Event.id))
                  if row.kind != changes.GROUP_CREATED]
        rows = memberships.members_of(session, tenant_id, [group_id])[group_id]
        members = {member_id for member_id, _display in rows}
        return groups.get(session, tenant_id, group_id), members, logged


def _expected(before: StoredGroup, doc: dict[str, Any], delta: MemberDelta) -> list[tuple[str, Any]]:
    """The events of the same write by the rules of scim.changes."""
    return [(change.kind, change.diff) for change in changes.on_update(GROUP, before.doc, doc, members=delta)]


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
        assert len(statements) == 4 and not connection.in_transaction()  # the read; plan mode, lock, write: pipelined
    assert stored is not None
    delta = MemberDelta(added=(ids[2], ids[3]), removed=(ids[1],), skipped=("ghost",))
    assert (sorted(stored.member_delta.added), stored.member_delta.removed, stored.member_delta.skipped) == (
        sorted(delta.added), delta.removed, delta.skipped)
    assert (stored.version, stored.doc["displayName"]) == (2, "Staff 2")
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, seen.last_modified, seen.created) == (
        2, stored.doc, stored.last_modified, stored.created)
    assert members == {ids[0], ids[2], ids[3]}
    assert [kind for kind, _diff in logged] == [changes.GROUP_RENAMED, changes.GROUP_MEMBERS_ADDED,
                                                changes.GROUP_MEMBERS_REMOVED]
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
    assert added["added"]["count"] == 25 and len(added["added"]["ids"]) == changes.MEMBER_IDS_SHOWN
    assert added["skipped"] == {"ids": ["Zed", "_x", "a-b", "ab"], "count": 4}


def test_a_patch_that_changes_nothing_keeps_the_version_and_logs_one_empty_update(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=2)
    with reading(pg_engine) as connection:
        stored = _commit(connection, tenant_id, group, _operations(group.id, _add(ids[0]), _remove(ids[2])))
    assert stored is not None and (stored.version, stored.member_delta) == (1, MemberDelta())
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen, members) == (group, {ids[0], ids[1]})
    assert logged == [(changes.GROUP_UPDATED, {})]


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


def test_document_operations_and_an_if_match_apply_only_to_the_version_read(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    with reading(pg_engine) as connection:
        assert _commit(connection, tenant_id, group, _operations(group.id, _add(ids[1]))) is not None
        rename = _operations(group.id, {"op": "replace", "path": "displayName", "value": "Ops"}, _remove(ids[0]))
        assert _commit(connection, tenant_id, group, rename, if_match=group.etag) is None  # the group moved on
        assert not connection.in_transaction()
    seen, members, logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, members) == (2, group.doc, {ids[0], ids[1]})
    assert [kind for kind, _diff in logged] == [changes.GROUP_MEMBERS_ADDED]  # the first write's event only


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
        with pytest.raises(NotFound):
            _commit(connection, tenant_id, missing, _operations(missing.id, _add(ids[1])), if_match='W/"1"')
    assert _state(pg_engine, tenant_id, group.id) == (group, {ids[0]}, [])


def test_a_taken_display_name_writes_nothing_and_the_connection_goes_on(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    with make_sessionmaker(pg_engine).begin() as session:
        groups.create(session.connection(), tenant_id, GROUP, ParsedResource({"displayName": "Ops"}), ORIGIN)
    operations = _operations(group.id, {"op": "replace", "path": "displayName", "value": "OPS"}, _add(ids[1]))
    with reading(pg_engine) as connection:
        with pytest.raises(Uniqueness):
            _commit(connection, tenant_id, group, operations)
        assert groups.get(connection, tenant_id, group.id) == group  # no transaction left aborted
    assert _state(pg_engine, tenant_id, group.id) == (group, {ids[0]}, [])


def _behind_an_open_group_write(engine: Engine, tenant_id: int, group: StoredGroup, adding: str,
                                second: Callable[[Connection], StoredGroup | None]) -> StoredGroup | None:
    """Hold a transaction that locked the group and added `adding` to it, run `second` meanwhile and check that it
    waits for a lock; then commit the transaction. Returns what `second` returned."""
    result: list[StoredGroup | None] = []
    done = threading.Event()
    with make_sessionmaker(engine)() as session:
        begin_write(session)
        groups.patch(session.connection(), tenant_id, GROUP, group.id, _operations(group.id, _add(adding)), None,
                     ORIGIN)

        def run() -> None:
            try:
                with reading(engine) as connection:
                    result.append(second(connection))
            finally:
                done.set()

        thread = threading.Thread(target=run)
        thread.start()
        wait_until_blocked(engine, done, "the PATCH")
        session.commit()
    thread.join(WAIT_SECONDS)
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
    assert [kind for kind, _diff in logged] == [changes.GROUP_MEMBERS_ADDED,  # the write that held the lock
                                                changes.GROUP_MEMBERS_ADDED, changes.GROUP_MEMBERS_REMOVED]


def test_a_rename_that_waited_for_the_group_gives_way_to_the_write_that_held_it(pg_engine: Engine) -> None:
    tenant_id, ids, group = _setup(pg_engine, users=3, members=1)
    rename = _operations(group.id, {"op": "replace", "path": "displayName", "value": "Ops"}, _add(ids[2]))
    stored = _behind_an_open_group_write(pg_engine, tenant_id, group, ids[1],
                                         lambda connection: _commit(connection, tenant_id, group, rename))
    assert stored is None  # the caller starts over under the lock
    seen, members, _logged = _state(pg_engine, tenant_id, group.id)
    assert (seen.version, seen.doc, members) == (2, group.doc, {ids[0], ids[1]})


def test_left_to_the_transaction_path_where_it_would_not_be_one_round_trip(engine: Engine) -> None:
    """A clear, a PATCH inside a caller's transaction, and SQLite (whose writers queue) write nothing here."""
    tenant_id, ids, group = _setup(engine, users=2, members=1)
    add = _operations(group.id, _add(ids[1]))
    clear = _operations(group.id, {"op": "replace", "path": "members", "value": [{"value": ids[1]}]})
    with reading(engine) as reading_connection, engine.connect() as in_transaction:
        in_transaction.begin()
        left = [(reading_connection, clear), (in_transaction, add)]
        if engine.dialect.name == "sqlite":
            left.append((reading_connection, add))
        for connection, operations in left:
            assert _commit(connection, tenant_id, group, operations) is None
    assert _state(engine, tenant_id, group.id) == (group, {ids[0]}, [])


# -- the events in SQL against the transaction path's, on PostgreSQL ----------------------------------------------


PATCHES: list[Callable[[list[str]], list[dict[str, Any]]]] = [
    lambda ids: [{"op": "replace", "value": {"displayName": "Staff 2"}}, _add(ids[2], "ghost", ids[3], ids[0]),
                 _remove(ids[1], "absent")],
    lambda ids: [_add(*ids[4:40], "ab", "Zed", "a-b", "_x", "ab"), _remove(*ids[:3])],
    lambda ids: [_add(ids[0]), _remove(ids[50])],
    lambda ids: [{"op": "replace", "path": "displayName", "value": "Staff"}],
    lambda ids: [{"op": "add", "path": "externalId", "value": "ext-1"}, _remove(ids[0])],
    lambda ids: [{"op": "replace", "path": "displayName", "value": "Renamed"},
                 {"op": "remove", "path": "externalId"}],
    lambda ids: [_add("ghost-only")],
    lambda ids: [_remove(*ids[1:30]), _add(ids[1])],
]


@pytest.mark.parametrize("make_operations", PATCHES, ids=[
    "rename-add-remove-skip", "capped-and-sorted", "no-change", "same-name", "external-id-and-remove",
    "rename-and-remove-attribute", "unknown-only", "remove-many-add-one-back"])
def test_the_events_in_sql_are_the_transaction_paths(pg_engine: Engine, make_operations: Callable) -> None:
    """The same PATCH on two equal groups, once in one round trip and once in a transaction (storage.groups), logs
    the same events: the rules of scim.changes, built twice, agree."""
    tenant_id, ids, group = _setup(pg_engine, users=60, members=30)
    with make_sessionmaker(pg_engine).begin() as session:
        members = [{"value": member_id} for member_id in ids[:30]]
        twin = groups.create(session.connection(), tenant_id, GROUP,
                             ParsedResource({"displayName": "Twin"}, members=members), ORIGIN)
    rename = {"Staff": "Twin", "Staff 2": "Twin 2", "Renamed": "Twin renamed"}
    operations = make_operations(ids)
    twin_operations = [{**operation, "value": rename[operation["value"]]}
                       if operation.get("path") == "displayName" else
                       {**operation, "value": {"displayName": rename[operation["value"]["displayName"]]}}
                       if isinstance(operation.get("value"), dict) else operation for operation in operations]
    with reading(pg_engine) as connection:
        one_round_trip = _commit(connection, tenant_id, group, _operations(group.id, *operations))
    assert one_round_trip is not None
    with make_sessionmaker(pg_engine).begin() as session:
        groups.patch(session.connection(), tenant_id, GROUP, twin.id, _operations(twin.id, *twin_operations), None,
                     ORIGIN)
    with make_sessionmaker(pg_engine)() as session:
        rows = session.scalars(select(Event).where(Event.kind != changes.GROUP_CREATED).order_by(Event.id)).all()
        after = {stored.id: documents.snapshot_resource(GROUP, stored)
                 for stored in (groups.get(session, tenant_id, group.id), groups.get(session, tenant_id, twin.id))}
    by_group = {group.id: [], twin.id: []}
    for row in rows:
        assert row.snapshot["resource"] == after[row.resource_id]  # as GET renders it, meta.location aside
        assert row.snapshot["version"] == after[row.resource_id]["meta"]["version"]
        by_group[row.resource_id].append((row.kind, _renamed_back(row.diff), _members(row.snapshot)))
    assert by_group[group.id] == by_group[twin.id] and by_group[group.id]


def _members(snapshot: dict[str, Any]) -> tuple[Any, list[str]]:
    """A snapshot's member lists, and its keys."""
    return snapshot.get("members"), sorted(snapshot)


def _renamed_back(diff: Any) -> Any:
    """A twin's event with the twin's names as the first group's."""
    names = {"Twin": "Staff", "Twin 2": "Staff 2", "Twin renamed": "Renamed"}
    if isinstance(diff, dict):
        return {key: _renamed_back(value) for key, value in diff.items()}
    return names.get(diff, diff) if isinstance(diff, str) else diff
