"""A group's membership: one `group_members` row per (group, user), and every change to it a delta.

Adding or removing k members costs O(k) statements whatever the group's size, and concurrent writes never overwrite
each other's members (no read-modify-write of a member list). A member whose id is not a user of the tenant, or
whose `type` is not "User" (groups do not nest), is skipped: the other members are applied, and the skipped ids are
logged as a WARNING and reported in the write's `MemberDelta.skipped`. Okta does not retry a 400, so failing the
whole request would lose the known members with the unknown one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

from sqlalchemy import JSON, ColumnElement, Connection, String, any_, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scim.changes import MemberDelta, net_steps
from scim.patch import MemberStep
from storage.connections import dialect
from storage.models import GroupMember, User, group_members_table
from storage.prepared import Prepared

_log = logging.getLogger(__name__)

# Ids per statement: far below SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500
LOGGED_IDS = 100
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def in_ids(dialect_name: str, column: ColumnElement[str], name: str = "ids") -> ColumnElement[bool]:
    """`column` among the ids of the `name` parameter: one parameter for any number of them, so one `Prepared`
    statement. PostgreSQL `= ANY(:ids)`, whose generic plan still probes the index when statistics are stale, where
    one of a long IN list may filter every row of a large group; SQLite `IN (SELECT value FROM json_each(:ids))`."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))
    return column.in_(select(func.json_each(bindparam(name, type_=JSON)).table_valued("value").c.value))


class _Statements:
    """A membership delta's statements for one dialect: which ids are users of the tenant (locked FOR KEY SHARE on
    PostgreSQL, so a user deleted concurrently is either still there at commit or not found: never a foreign-key
    error); add those (INSERT ... ON CONFLICT DO NOTHING: RETURNING lists only the rows really written); remove."""

    def __init__(self, dialect_name: str) -> None:
        members = group_members_table.c
        users = select(User.id).where(User.tenant_id == bindparam("tenant_id"), in_ids(dialect_name, User.id))
        self.users = Prepared(users.with_for_update(read=True, key_share=True))
        self.add = Prepared(
            _INSERTS[dialect_name](group_members_table)
            .from_select(["group_id", "member_id", "tenant_id"],
                         select(bindparam("group_id", type_=String), User.id, User.tenant_id)
                         .where(User.tenant_id == bindparam("tenant_id"), in_ids(dialect_name, User.id)))
            .on_conflict_do_nothing().returning(members.member_id)
        )
        # Planned for the group named: a plan made for any group scans the group when the statistics say groups
        # are small (one large group among thousands of small ones), where this one probes the ids.
        self.remove = Prepared(
            delete(group_members_table)
            .where(members.tenant_id == bindparam("tenant_id"), members.group_id == bindparam("group_id"),
                   in_ids(dialect_name, members.member_id))
            .returning(members.member_id),
            custom_plan=True,
        )
        # The members of some groups, with each member's display (its displayName, else userName).
        self.members_of = Prepared(
            select(GroupMember.group_id, GroupMember.member_id, func.coalesce(User.display_name, User.user_name))
            .join(User, User.id == GroupMember.member_id)
            .where(GroupMember.tenant_id == bindparam("tenant_id"), in_ids(dialect_name, GroupMember.group_id))
            .order_by(GroupMember.group_id, GroupMember.member_id)
        )


_STATEMENTS = {name: _Statements(name) for name in _INSERTS}


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def add(connection: Connection, tenant_id: int, group_id: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Add members (RFC 7644 §3.5.2.1: add appends); returns (ids added, ids that are not users of the tenant). An id
    already a member is neither."""
    statements = _STATEMENTS[dialect(connection)]
    added: list[str] = []
    skipped: list[str] = []
    for chunk in _chunks(ids):
        known = {row[0] for row in statements.users.all(connection, {"tenant_id": tenant_id, "ids": list(chunk)})}
        skipped += [member_id for member_id in chunk if member_id not in known]
        if known:
            params = {"group_id": group_id, "tenant_id": tenant_id, "ids": sorted(known)}
            added += [row[0] for row in statements.add.all(connection, params)]
    return added, skipped


def remove(connection: Connection, tenant_id: int, group_id: str, ids: Sequence[str]) -> list[str]:
    """Remove the listed members (RFC 7644 §3.5.2.2); ids that are not members are ignored. Returns the ids removed."""
    statement = _STATEMENTS[dialect(connection)].remove
    removed: list[str] = []
    for chunk in _chunks(ids):
        params = {"tenant_id": tenant_id, "group_id": group_id, "ids": list(chunk)}
        removed += [row[0] for row in statement.all(connection, params)]
    return removed


def set_members(connection: Connection, tenant_id: int, group_id: str, ids: Sequence[str]) -> MemberDelta:
    """Make the membership exactly `ids` by deltas against the table."""
    query = select(GroupMember.member_id).where(GroupMember.tenant_id == tenant_id, GroupMember.group_id == group_id)
    current = set(connection.scalars(query))
    removed = remove(connection, tenant_id, group_id, sorted(current - set(ids)))
    added, skipped = add(connection, tenant_id, group_id, [member_id for member_id in ids if member_id not in current])
    return MemberDelta(tuple(added), tuple(removed), tuple(skipped))


def apply_steps(connection: Connection, tenant_id: int, group_id: str, steps: Sequence[MemberStep]) -> MemberDelta:
    """PATCH membership steps as deltas; a "clear" (remove all, or replace) becomes a delta against the table too."""
    net = net_steps(steps)
    if net.cleared:
        return set_members(connection, tenant_id, group_id, net.adds)
    removed = remove(connection, tenant_id, group_id, net.removes)
    added, skipped = add(connection, tenant_id, group_id, net.adds)
    return MemberDelta(tuple(added), tuple(removed), tuple(skipped))


def user_members(members: Sequence[Mapping[str, str]]) -> tuple[list[str], list[str]]:
    """Split body members into (user ids, skipped ids): a member typed other than "User" is a nested group."""
    users = dict.fromkeys(member["value"] for member in members if member.get("type", "User").lower() == "user")
    return list(users), [member["value"] for member in members if member["value"] not in users]


def reported(tenant_id: int, group_id: str, skipped: Iterable[str]) -> tuple[str, ...]:
    """The skipped member ids, once each, logged (the first LOGGED_IDS of them, and how many) for an admin to see."""
    skipped = tuple(dict.fromkeys(skipped))
    if skipped:
        more = f" and {len(skipped) - LOGGED_IDS} more" if len(skipped) > LOGGED_IDS else ""
        _log.warning("tenant %s, group %s: %d member id(s) skipped (not users of this tenant; groups do not nest): "
                     "%s%s", tenant_id, group_id, len(skipped), ", ".join(skipped[:LOGGED_IDS]), more)
    return skipped


def members_of(
    executor: Session | Connection, tenant_id: int, group_ids: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """(user id, display) of each group's members in one query, ordered by user id; `display` is the user's
    displayName, else userName."""
    result: dict[str, list[tuple[str, str]]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return result
    rows = _STATEMENTS[dialect(executor)].members_of.all(executor, {"tenant_id": tenant_id, "ids": list(group_ids)})
    for group_id, member_id, display in rows:
        result[group_id].append((member_id, display))
    return result
