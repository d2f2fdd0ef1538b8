"""Groups of a tenant (RFC 7643 §4.2): create, read, replace, patch, delete. Scoped by tenant_id; none commits.

Membership lives in `group_members`, one row per (group, user), and every change to it is a delta: adding or
removing k members costs O(k) statements whatever the group's size, and concurrent PATCHes never overwrite each
other's members (no read-modify-write of a member list). Decisions:

- Members are users of the same tenant. A member whose id is not such a user, or whose `type` is not "User" (this
  server does not nest groups), is skipped: the other members of the request are applied, the skipped ids are
  logged as a WARNING and returned in `StoredGroup.member_delta.skipped` for the caller to record. Okta does not retry
  a 400, so failing the whole request would lose the known members with the unknown one.
- A PUT without `members` keeps the current members. RFC 7644 §3.5.1 lets a server treat an omitted readWrite
  attribute as "not asserted" (it MAY clear it); clearing a group of 100k members because a client sent only
  `displayName` cannot be undone, and Okta's AIW PUT always carries the full list. `"members": []` clears.
- Version and lastModified change when the document or the membership changes; a request that changes nothing
  (adding a present member, removing an absent one) leaves both as they are.
- A write says what it changed: `StoredGroup.member_delta` holds the rows its INSERTs and DELETEs really wrote,
  read back with RETURNING (for the activity log), so no read of the membership before and after is needed.
- A taken displayName is a `Uniqueness` error that, on PostgreSQL, aborts the caller's transaction (as in
  storage/users.py: the caller rolls back, or wrote in a savepoint of its own).
- `replace` and `patch` expect `current` from `get(..., for_update=True)` in the same transaction: on PostgreSQL
  that row lock serialises concurrent writes to one group; SQLite's writers are serialised by BEGIN IMMEDIATE.
- On PostgreSQL a PATCH that adds and removes members (no clear) is one round trip outside a transaction:
  `commit_patch` locks the group's row, then writes the members, the group and its events in one statement, and
  commits, against eight round trips in a transaction.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Integer,
    String,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim.errors import NotFound, PreconditionFailed, Uniqueness
from scim.filters import Expr
from scim.patch import MemberStep, Patch, apply
from scim.payloads import ParsedResource
from scim.projection import Projection
from scim.schemas import ResourceType
from scim.search import SearchParams
from scim.versions import etag, if_match_ok
from storage import documents, events
from storage.db import autocommits, dialect
from storage.models import Group, GroupMember, User, group_members_table, groups_table, utcnow
from storage.prepared import Prepared
from storage.search import search_resources

_log = logging.getLogger(__name__)

_groups = groups_table.c
_COLUMNS = (_groups.id, _groups.doc, _groups.created, _groups.last_modified, _groups.version)
_BY_ID = _groups.tenant_id == bindparam("tenant_id"), _groups.id == bindparam("group_id")
# Statements of the request path (storage/prepared.py): read, read for update, and the write of a changed group.
_GET = (Prepared(select(*_COLUMNS).where(*_BY_ID)),
        Prepared(select(*_COLUMNS).where(*_BY_ID).with_for_update(of=groups_table)))
_UPDATE = Prepared(
    update(groups_table).where(_groups.tenant_id == bindparam("tenant_id_"), _groups.id == bindparam("group_id_"))
    .values(version=_groups.version + 1).returning(_groups.version)
)
# Ids per IN list / rows per INSERT: far below SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500
LOGGED_IDS = 100
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclasses.dataclass(frozen=True)
class MemberDelta:
    """What a write did to a group's membership: the member ids it really added and removed, and those it skipped
    (not users of the tenant; groups do not nest)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class StoredGroup:
    """A group row, with what the write that produced it did to its membership."""

    id: str
    doc: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int
    member_delta: MemberDelta = MemberDelta()

    @property
    def etag(self) -> str:
        return etag(self.version)


@dataclasses.dataclass(frozen=True)
class GroupPage:
    """One page of a search: the groups, the number of matches, RFC 9865 cursors when paging by cursor."""

    items: list[StoredGroup]
    total: int
    next_cursor: str | None = None
    previous_cursor: str | None = None


def _stored(row: Sequence[Any]) -> StoredGroup:
    """A row of the _COLUMNS: id, doc, created, last_modified, version."""
    return StoredGroup(row[0], row[1], row[2], row[3], row[4])


def _columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed copies of document attributes (see docs/design.md); displayName is case-insensitive."""
    display_name = doc["displayName"]
    return {
        "display_name": display_name,
        "display_name_key": display_name.lower(),
        "external_id": doc.get("externalId"),
        "doc": dict(doc),
    }


def _taken(display_name: str) -> Uniqueness:
    return Uniqueness(f"A group with displayName {display_name!r} already exists (displayName is case-insensitive).")


# -- membership deltas ------------------------------------------------------------------------------


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _in_ids(dialect_name: str, column: ColumnElement[str], name: str = "ids") -> ColumnElement[bool]:
    """`column` among the ids of the `name` parameter: one parameter for any number of them, so one `Prepared`
    statement. PostgreSQL `= ANY(:ids)`, whose generic plan still probes the index: with stale statistics (a table
    that just grew), the generic plan of a long IN list filtered every row of a 100k group instead (1.2 s against
    0.7 ms). (Not beside `group_id = :group_id`, though: see `_membership_statements`.) SQLite
    `IN (SELECT value FROM json_each(:ids))`."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))
    return column.in_(select(func.json_each(bindparam(name, type_=JSON)).table_valued("value").c.value))


class _Membership(NamedTuple):
    """A membership delta's statements for one dialect: which ids are users of the tenant (locked FOR KEY SHARE on
    PostgreSQL, so a user deleted concurrently is either still there at commit or not found: never a foreign-key
    error); add those (INSERT ... ON CONFLICT DO NOTHING: RETURNING lists only the rows really written); remove."""

    users: Prepared
    add: Prepared
    remove: Prepared


def _membership_statements(dialect_name: str) -> _Membership:
    members = group_members_table.c
    users = select(User.id).where(User.tenant_id == bindparam("tenant_id"), _in_ids(dialect_name, User.id))
    added = (
        _INSERTS[dialect_name](group_members_table)
        .from_select(["group_id", "member_id", "tenant_id"],
                     select(bindparam("group_id", type_=String), User.id, User.tenant_id)
                     .where(User.tenant_id == bindparam("tenant_id"), _in_ids(dialect_name, User.id)))
        .on_conflict_do_nothing().returning(members.member_id)
    )
    removed = (
        delete(group_members_table)
        .where(members.tenant_id == bindparam("tenant_id"), members.group_id == bindparam("group_id"),
               _in_ids(dialect_name, members.member_id))
        .returning(members.member_id)
    )
    # A generic plan of the DELETE, made for any group, scans the group when the statistics say groups are small (a
    # 100k group among thousands of small ones): planned for the group named, it probes the ids. (`_patch_with_events`
    # is too long to be parsed on every run, and deletes by (group, member) pairs instead.)
    return _Membership(Prepared(users.with_for_update(read=True, key_share=True)), Prepared(added),
                       Prepared(removed, custom_plan=True))


_MEMBERSHIP = {name: _membership_statements(name) for name in _INSERTS}
# The members of some groups, with each member's display (its displayName, else userName).
_MEMBERS_OF = {
    name: Prepared(
        select(GroupMember.group_id, GroupMember.member_id, func.coalesce(User.display_name, User.user_name))
        .join(User, User.id == GroupMember.member_id)
        .where(GroupMember.tenant_id == bindparam("tenant_id"), _in_ids(name, GroupMember.group_id))
        .order_by(GroupMember.group_id, GroupMember.member_id)
    )
    for name in _INSERTS
}


def _patch_with_events(writes_document: bool) -> Prepared:
    """PostgreSQL: a group PATCH in one statement, run in one round trip after `_PLANNED_ONCE` and `_GET`'s read for
    update (`commit_patch` says how): its membership steps (`_net_steps` without a clear: ids to add, `add_ids`, and to
    remove, `remove_ids`), its document if `writes_document` (the `_columns` parameters), the version bump if either
    changed anything, and its events. Only if the group is at `version` (NULL: any). `locked` reads the group (its row
    lock already held), and every write reads it, so none writes without it; then the users to add are locked FOR KEY
    SHARE (as `_add`), the members deleted and inserted with RETURNING, `delta` gathers what they did, the version is
    bumped, and the events (storage.events.group_event_rows) are inserted under the commit-order lock, taken once all of
    that is done. Returns one row, the group as read, what the write did (added, removed, skipped) and, if it changed
    the group, its new version; no row if the group is not there at that version."""
    members, tenant, group = group_members_table.c, bindparam("tenant_id"), bindparam("group_id", type_=String)
    locked = (select(*_COLUMNS).where(*_BY_ID, _groups.version == func.coalesce(bindparam("version", type_=Integer),
                                                                                 _groups.version))
              .cte("locked").prefix_with("MATERIALIZED"))
    known = (select(User.id).select_from(locked)
             .where(User.tenant_id == tenant, _in_ids("postgresql", User.id, "add_ids"))
             .with_for_update(read=True, key_share=True, of=User).cte("known"))
    # The (group, member) pairs to delete, from the ids: a plan made for any group probes each pair. Written as
    # `group_id = :group_id AND member_id = ANY(:remove_ids)`, a generic plan scans the group when the statistics say
    # groups are small (thousands of small ones beside a 100k one).
    pairs = select(group, func.unnest(bindparam("remove_ids", type_=postgresql.ARRAY(String))))
    removed = (delete(group_members_table)
               .where(tuple_(members.group_id, members.member_id).in_(pairs), members.tenant_id == tenant,
                      select(locked.c.id).exists())
               .returning(members.member_id).cte("removed"))
    added = (postgresql.insert(group_members_table)
             .from_select(["group_id", "member_id", "tenant_id"], select(group, known.c.id, tenant))
             .on_conflict_do_nothing().returning(members.member_id).cte("added"))
    requested = func.unnest(bindparam("add_ids", type_=postgresql.ARRAY(String))).table_valued(
        "id", with_ordinality="position").render_derived()
    skipped = (select(requested.c.id).select_from(locked, requested)
               .where(~select(known.c.id).where(known.c.id == requested.c.id).exists())
               .order_by(requested.c.position))
    delta = select(
        select(func.count()).select_from(locked).scalar_subquery().label("applied"),
        func.array(select(added.c.member_id).scalar_subquery()).label("added"),
        func.array(select(removed.c.member_id).scalar_subquery()).label("removed"),
        func.array(skipped.scalar_subquery()).label("skipped"),
    ).cte("delta")
    written = {name: bindparam(name, type_=_groups[name].type)
               for name in ("last_modified", *(_DOCUMENT_COLUMNS if writes_document else ()))}
    changed = true() if writes_document else or_(func.cardinality(delta.c.added) > 0,
                                                  func.cardinality(delta.c.removed) > 0)
    bumped = (update(groups_table).where(*_BY_ID, delta.c.applied > 0, changed)
              .values({**written, "version": _groups.version + 1})
              .returning(_groups.version.label("new_version")).cte("bumped"))
    settled = (select(*locked.c, delta.c.added, delta.c.removed, delta.c.skipped, *bumped.c)
               .select_from(locked.join(delta, true()).outerjoin(bumped, true())).cte("settled"))
    return Prepared(select(settled).add_cte(events.with_events(events.group_event_rows(delta), settled)))


# Run before `_patch_with_events` in its transaction: PostgreSQL plans that statement once for any parameters (a
# generic plan, which its shape keeps safe: the DELETE by pairs) instead of choosing, after five runs, between that and
# planning it anew on every run: ~0.45 ms a request, which it chose or not as small changes to the statement tipped
# its cost estimates (0.7x to 1.0x of this in the bench).
_PLANNED_ONCE = Prepared(select(func.set_config("plan_cache_mode", "force_generic_plan", True)))


_DOCUMENT_COLUMNS = ("display_name", "display_name_key", "external_id", "doc")
_PATCH_WITH_EVENTS = {writes_document: _patch_with_events(writes_document) for writes_document in (False, True)}


def _add(
    session: Session | Connection, tenant_id: int, group_id: str, ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Add members (RFC 7644 §3.5.2.1: add appends); returns (ids added, ids that are not users of the tenant). An id
    already a member is neither: RETURNING lists only the rows the INSERT wrote."""
    statements = _MEMBERSHIP[dialect(session)]
    added: list[str] = []
    skipped: list[str] = []
    for chunk in _chunks(ids):
        known = {row[0] for row in statements.users.all(session, {"tenant_id": tenant_id, "ids": list(chunk)})}
        skipped += [member_id for member_id in chunk if member_id not in known]
        if known:
            params = {"group_id": group_id, "tenant_id": tenant_id, "ids": sorted(known)}
            added += [row[0] for row in statements.add.all(session, params)]
    return added, skipped


def _remove(session: Session | Connection, tenant_id: int, group_id: str, ids: Sequence[str]) -> list[str]:
    """Remove the listed members (RFC 7644 §3.5.2.2); ids that are not members are ignored. Returns the ids removed."""
    remove = _MEMBERSHIP[dialect(session)].remove
    removed: list[str] = []
    for chunk in _chunks(ids):
        params = {"tenant_id": tenant_id, "group_id": group_id, "ids": list(chunk)}
        removed += [row[0] for row in remove.all(session, params)]
    return removed


def _member_ids(session: Session | Connection, tenant_id: int, group_id: str) -> set[str]:
    query = select(GroupMember.member_id).where(GroupMember.tenant_id == tenant_id, GroupMember.group_id == group_id)
    return set(session.scalars(query))


def _set_members(session: Session | Connection, tenant_id: int, group_id: str, ids: Sequence[str]) -> MemberDelta:
    """Make the membership exactly `ids` by deltas against the table."""
    current = _member_ids(session, tenant_id, group_id)
    wanted = set(ids)
    removed = _remove(session, tenant_id, group_id, sorted(current - wanted))
    added, skipped = _add(session, tenant_id, group_id, [member_id for member_id in ids if member_id not in current])
    return MemberDelta(tuple(added), tuple(removed), tuple(skipped))


def _net_steps(steps: Iterable[MemberStep]) -> tuple[bool, list[str], list[str]]:
    """Fold ordered steps into (cleared, ids to add, ids to remove): the last step naming an id wins, and a
    "clear" forgets every step before it, so the result equals applying the steps one by one."""
    cleared = False
    last: dict[str, bool] = {}
    for step in steps:
        if step.action == "clear":
            cleared = True
            last.clear()
        for member_id in step.ids:
            last[member_id] = step.action == "add"
    adds = [member_id for member_id, added in last.items() if added]
    return cleared, adds, [member_id for member_id, added in last.items() if not added]


def _apply_steps(
    session: Session | Connection, tenant_id: int, group_id: str, steps: Sequence[MemberStep]
) -> MemberDelta:
    """PATCH membership steps as deltas; a "clear" (remove all, or replace) becomes a delta against the table too."""
    cleared, adds, removes = _net_steps(steps)
    if cleared:
        return _set_members(session, tenant_id, group_id, adds)
    removed = _remove(session, tenant_id, group_id, removes)
    added, skipped = _add(session, tenant_id, group_id, adds)
    return MemberDelta(tuple(added), tuple(removed), tuple(skipped))


def _user_members(members: Sequence[Mapping[str, str]]) -> tuple[list[str], list[str]]:
    """Split body members into (user ids, skipped ids): a member typed other than "User" is a nested group."""
    users = dict.fromkeys(member["value"] for member in members if member.get("type", "User").lower() == "user")
    return list(users), [member["value"] for member in members if member["value"] not in users]


def _report(tenant_id: int, group_id: str, skipped: Iterable[str]) -> tuple[str, ...]:
    """Log the skipped member ids (the first LOGGED_IDS of them, and how many) for an admin to see."""
    skipped = tuple(dict.fromkeys(skipped))
    if skipped:
        more = f" and {len(skipped) - LOGGED_IDS} more" if len(skipped) > LOGGED_IDS else ""
        _log.warning("tenant %s, group %s: %d member id(s) skipped (not users of this tenant; groups do not nest): "
                     "%s%s", tenant_id, group_id, len(skipped), ", ".join(skipped[:LOGGED_IDS]), more)
    return skipped


# -- the interface shared with storage.users --------------------------------------------------------


def create(session: Session | Connection, tenant_id: int, group_id: str, parsed: ParsedResource) -> StoredGroup:
    """Insert a group (RFC 7644 §3.3) with its members; a taken displayName (any case) is a 409 from the unique
    index, even under races."""
    now = utcnow()
    values = {**_columns(parsed.document), "id": group_id, "tenant_id": tenant_id, "created": now,
              "last_modified": now, "version": 1}
    try:
        session.execute(insert(Group).values(values))
    except IntegrityError as error:
        raise _taken(parsed.document["displayName"]) from error
    ids, skipped = _user_members(parsed.members or ())
    added, missing = _add(session, tenant_id, group_id, ids)
    delta = MemberDelta(added=tuple(added), skipped=_report(tenant_id, group_id, skipped + missing))
    return StoredGroup(group_id, values["doc"], now, now, 1, delta)


def get(session: Session | Connection, tenant_id: int, group_id: str, *, for_update: bool = False) -> StoredGroup:
    if not documents.is_id(group_id):
        raise NotFound(f"Group {group_id} not found.")
    row = _GET[for_update].first(session, {"tenant_id": tenant_id, "group_id": group_id})
    if row is None:
        raise NotFound(f"Group {group_id} not found.")
    return _stored(row)


def check_version(current: StoredGroup, if_match: str | None) -> None:
    """RFC 7644 §3.14: a stale If-Match is a 412 and nothing is written."""
    if not if_match_ok(if_match, current.etag):
        raise PreconditionFailed(f"Group {current.id} is at version {current.etag}, not {if_match}.")


def replace(session: Session | Connection, tenant_id: int, current: StoredGroup, parsed: ParsedResource) -> StoredGroup:
    """PUT (RFC 7644 §3.5.1): the document is replaced; given `members` become the membership by deltas against
    the table, and a body without `members` keeps them (see the module docstring)."""
    delta = MemberDelta()
    if parsed.members is not None:
        ids, skipped = _user_members(parsed.members)
        delta = _set_members(session, tenant_id, current.id, ids)
        delta = dataclasses.replace(delta, skipped=(*skipped, *delta.skipped))
    return _save(session, tenant_id, current, parsed.document, delta)


def patch(session: Session | Connection, tenant_id: int, current: StoredGroup, operations: Patch) -> StoredGroup:
    """PATCH (RFC 7644 §3.5.2): document operations on the locked document, membership steps as deltas."""
    doc = apply(operations, current.doc)
    delta = _apply_steps(session, tenant_id, current.id, operations.member_steps)
    return _save(session, tenant_id, current, doc, delta)


def _save(
    session: Session | Connection, tenant_id: int, current: StoredGroup, doc: Mapping[str, Any], delta: MemberDelta
) -> StoredGroup:
    """Write the document if it changed and bump version and lastModified if anything changed."""
    delta = dataclasses.replace(delta, skipped=_report(tenant_id, current.id, delta.skipped))
    if doc == current.doc and not (delta.added or delta.removed):
        return dataclasses.replace(current, member_delta=delta)
    now = utcnow()
    values: dict[str, Any] = {"last_modified": now, "tenant_id_": tenant_id, "group_id_": current.id}
    if doc != current.doc:
        values.update(_columns(doc))
    try:
        [version] = _UPDATE.first(session, values)
    except IntegrityError as error:
        raise _taken(doc["displayName"]) from error
    return StoredGroup(current.id, dict(doc), current.created, now, version, delta)


def fits_one_round_trip(operations: Patch) -> bool:
    """Whether a PATCH is one round trip (`commit_patch`): its membership steps add and remove ids, and
    none clears the membership (remove all, replace), which reads the members first (`_set_members`)."""
    return not _net_steps(operations.member_steps)[0]


def commit_patch(
    connection: Connection,
    tenant_id: int,
    group_id: str,
    steps: Sequence[MemberStep],
    event: Mapping[str, Any],
    current: StoredGroup | None = None,
    doc: dict[str, Any] | None = None,
    changes: Sequence[events.Change] = (),
) -> StoredGroup | None:
    """A group PATCH and its commit in one round trip, on a Connection that autocommits (PostgreSQL, outside a
    transaction: storage.db.autocommits): the group's row is locked (`_GET`), then `_patch_with_events` runs, seeing
    all that was committed before the lock was granted, so the membership steps (none a clear: `fits_one_round_trip`)
    apply to the members as they are then, as under `get(..., for_update=True)`; the two commit together. With
    `current` (read without a lock) and `doc` (the patched document), only if the group is still at
    `current.version`. The events are `event` (a `storage.events.entry`) for each of the document's `changes`
    (`events.group_document_changes`), then for the membership's, as `events.changes_on_update` makes them. None,
    with nothing written, if the group is not there (at that version); a taken displayName writes nothing
    (`Uniqueness`)."""
    cleared, adds, removes = _net_steps(steps)
    if cleared or not autocommits(connection):
        raise ValueError("commit_patch: no clear, on a Connection that autocommits")
    writes_document = current is not None and doc is not None and doc != current.doc
    now = utcnow()
    params = {
        **events.event_params(event), "tenant_id": tenant_id, "group_id": group_id, "add_ids": adds,
        "remove_ids": removes, "version": current.version if current is not None else None, "last_modified": now,
        "changes": [{"kind": change.kind, "diff": change.diff, "position": position}
                    for position, change in enumerate(changes, 1)],
    }
    if writes_document:
        params.update(_columns(doc))
    before = [(_PLANNED_ONCE, {}), (_GET[True], {"tenant_id": tenant_id, "group_id": group_id})]
    try:
        rows = _PATCH_WITH_EVENTS[writes_document].after(connection, before, params)
    except IntegrityError as error:
        if not writes_document:
            raise
        raise _taken(doc["displayName"]) from error
    if not rows:
        return None
    [row] = rows
    delta = MemberDelta(tuple(row.added), tuple(row.removed), _report(tenant_id, group_id, row.skipped))
    if row.new_version is None:
        return StoredGroup(row.id, row.doc, row.created, row.last_modified, row.version, delta)
    return StoredGroup(row.id, doc if writes_document else row.doc, row.created, now, row.new_version, delta)


def remove(session: Session | Connection, tenant_id: int, group_id: str) -> None:
    """Delete a group; its membership rows go with it (ON DELETE CASCADE), the users stay."""
    result = session.execute(delete(Group).where(Group.tenant_id == tenant_id, Group.id == group_id))
    if result.rowcount == 0:
        raise NotFound(f"Group {group_id} not found.")


def members_of(session: Session | Connection, tenant_id: int, group_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(user id, display) of each group's members in one query, ordered by user id; `display` is the user's
    displayName, else userName. Plain rows, no ORM object per member."""
    result: dict[str, list[tuple[str, str]]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return result
    rows = _MEMBERS_OF[dialect(session)].all(session, {"tenant_id": tenant_id, "ids": list(group_ids)})
    for group_id, member_id, display in rows:
        result[group_id].append((member_id, display))
    return result


def to_resources(
    session: Session | Connection, tenant_id: int, stored: list[StoredGroup], projection: Projection, base_url: str
) -> list[dict[str, Any]]:
    """Wire-form groups; `members` is loaded (in one query) only when it will be returned, so
    `excludedAttributes=members` never reads the membership table."""
    rows = members_of(session, tenant_id, [group.id for group in stored]) if projection.needs("members") else {}
    members = {
        group_id: [{"value": user_id, "$ref": f"{base_url}/Users/{user_id}", "display": display, "type": "User"}
                   for user_id, display in pairs]
        for group_id, pairs in rows.items()
    }
    return documents.render(projection, stored, base_url, "members", members)


def search(
    session: Session | Connection, tenant_id: int, resource_type: ResourceType, expr: Expr | None, params: SearchParams
) -> GroupPage:
    """Query groups (RFC 7644 §3.4.2): filtered, sorted and paged in SQL by storage.query; members are not read."""
    page = search_resources(session, resource_type, tenant_id, expr, params, _COLUMNS)
    return GroupPage([_stored(row) for row in page.rows], page.total or 0, page.next_cursor, page.previous_cursor)
