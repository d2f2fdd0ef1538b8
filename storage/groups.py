"""Groups of a tenant (RFC 7643 §4.2): the groups store (storage.stores.ResourceStore). Scoped by tenant_id.

A write is one call: `create`, `replace`, `patch`, `delete`, each given the request's Connection, and each writing
the group, its membership (storage.memberships) and its events (scim.changes) together. On PostgreSQL, outside a
transaction, a PATCH that does not clear the membership is one round trip that also commits (storage.group_patch);
every other write runs in a writing transaction (storage.connections.writing) that the caller commits, on the group
read under its row lock, which serialises concurrent writes to one group (SQLite's writers are serialised by BEGIN
IMMEDIATE). Decisions:

- A PUT without `members` keeps the current members. RFC 7644 §3.5.1 lets a server treat an omitted readWrite
  attribute as "not asserted" (it MAY clear it); clearing a group of 100k members because a client sent only
  `displayName` cannot be undone, and Okta's AIW PUT always carries the full list. `"members": []` clears.
- Version and lastModified change when the document or the membership changes; a request that changes nothing
  (adding a present member, removing an absent one) leaves both as they are.
- A write says what it changed: `StoredGroup.member_delta` holds the rows its INSERTs and DELETEs really wrote,
  read back with RETURNING, so no read of the membership before and after is needed.
- A taken displayName is a `Uniqueness` error that, on PostgreSQL, aborts the caller's transaction (as in
  storage/users.py: the caller rolls back, or wrote in a savepoint of its own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy import delete as delete_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim import changes
from scim.changes import MemberDelta
from scim.errors import NotFound
from scim.filters import Expr
from scim.patch import Patch, apply
from scim.payloads import ParsedResource
from scim.projection import Projection
from scim.schemas import GROUP, ResourceType
from scim.search import SearchParams
from storage import documents, events, group_patch, group_rows, memberships
from storage.connections import writing
from storage.events import Origin
from storage.group_rows import COLUMNS, StoredGroup
from storage.models import Group, utcnow
from storage.search import search_resources

get = group_rows.get


@dataclasses.dataclass(frozen=True)
class GroupPage:
    """One page of a search: the groups, the number of matches, RFC 9865 cursors when paging by cursor."""

    items: list[StoredGroup]
    total: int
    next_cursor: str | None = None
    previous_cursor: str | None = None


def search(
    executor: Session | Connection, tenant_id: int, resource_type: ResourceType, expr: Expr | None,
    params: SearchParams,
) -> GroupPage:
    """Query groups (RFC 7644 §3.4.2): filtered, sorted and paged in SQL by storage.search; members are not read."""
    page = search_resources(executor, resource_type, tenant_id, expr, params, COLUMNS)
    return GroupPage([group_rows.stored(row) for row in page.rows], page.total or 0, page.next_cursor,
                     page.previous_cursor)


def to_resources(
    executor: Session | Connection, tenant_id: int, stored: list[StoredGroup], projection: Projection, base_url: str
) -> list[dict[str, Any]]:
    """Wire-form groups; `members` is loaded (in one query) only when it will be returned, so
    `excludedAttributes=members` never reads the membership table."""
    rows = (memberships.members_of(executor, tenant_id, [group.id for group in stored])
            if projection.needs("members") else {})
    members = {
        group_id: [{"value": user_id, "$ref": f"{base_url}/Users/{user_id}", "display": display, "type": "User"}
                   for user_id, display in pairs]
        for group_id, pairs in rows.items()
    }
    return documents.render(projection, stored, base_url, "members", members)


# -- writes ---------------------------------------------------------------------------------------------------------


def create(
    connection: Connection, tenant_id: int, resource_type: ResourceType, parsed: ParsedResource, origin: Origin
) -> StoredGroup:
    """POST (RFC 7644 §3.3) with its members; a taken displayName (any case) is a 409 from the unique index, even
    under races."""
    group_id, now = documents.new_id(), utcnow()
    values = {**group_rows.document_columns(parsed.document), "id": group_id, "tenant_id": tenant_id,
              "created": now, "last_modified": now, "version": 1}
    try:
        writing(connection).execute(insert(Group).values(values))
    except IntegrityError as error:
        raise group_rows.taken(parsed.document["displayName"]) from error
    ids, skipped = memberships.user_members(parsed.members or ())
    added, missing = memberships.add(connection, tenant_id, group_id, ids)
    delta = MemberDelta(added=tuple(added), skipped=memberships.reported(tenant_id, group_id, skipped + missing))
    stored = StoredGroup(group_id, values["doc"], now, now, 1, delta)
    diff = changes.on_create(resource_type, stored.doc, members=delta if parsed.members else None)
    _log(connection, origin, 201, resource_type, stored, diff, delta)
    return stored


def replace(
    connection: Connection, tenant_id: int, resource_type: ResourceType, group_id: str, parsed: ParsedResource,
    if_match: str | None, origin: Origin,
) -> StoredGroup:
    """PUT (RFC 7644 §3.5.1): the document is replaced; given `members` become the membership by deltas against
    the table, and a body without `members` keeps them (module docstring); a stale `if_match` is a 412 (§3.14)."""
    current = _locked(connection, tenant_id, group_id, if_match)
    delta = None
    if parsed.members is not None:
        ids, skipped = memberships.user_members(parsed.members)
        delta = memberships.set_members(connection, tenant_id, current.id, ids)
        delta = dataclasses.replace(delta, skipped=(*skipped, *delta.skipped))
    stored = _save(connection, tenant_id, current, parsed.document, delta or MemberDelta())
    members = stored.member_delta if delta else None
    _log(connection, origin, 200, resource_type, stored,
         changes.on_update(resource_type, current.doc, stored.doc, members=members), members)
    return stored


def patch(
    connection: Connection, tenant_id: int, resource_type: ResourceType, group_id: str, operations: Patch,
    if_match: str | None, origin: Origin,
) -> StoredGroup:
    """PATCH (RFC 7644 §3.5.2): document operations on the document, membership steps as deltas; all or none; a
    stale `if_match` is a 412 (§3.14)."""
    stored = group_patch.patch(connection, tenant_id, resource_type, group_id, operations, if_match, origin)
    if stored is not None:
        return stored
    current = _locked(connection, tenant_id, group_id, if_match)
    doc = apply(operations, current.doc)
    delta = memberships.apply_steps(connection, tenant_id, current.id, operations.member_steps)
    stored = _save(connection, tenant_id, current, doc, delta)
    members = stored.member_delta if operations.member_steps else None
    _log(connection, origin, 200, resource_type, stored,
         changes.on_update(resource_type, current.doc, stored.doc, members=members), members)
    return stored


def delete(connection: Connection, tenant_id: int, group_id: str, if_match: str | None, origin: Origin) -> None:
    """DELETE (RFC 7644 §3.6); with `if_match`, only at that version (§3.14). Its membership rows go with it (ON
    DELETE CASCADE), the users stay."""
    if not documents.is_id(group_id):
        raise NotFound(f"Group {group_id} not found.")
    if if_match:
        _locked(connection, tenant_id, group_id, if_match)
    version = writing(connection).scalar(
        delete_rows(Group).where(Group.tenant_id == tenant_id, Group.id == group_id).returning(Group.version))
    if version is None:
        raise NotFound(f"Group {group_id} not found.")
    events.stage(connection, events.deletion(origin, changes.GROUP_DELETED, GROUP.name, group_id, version))


def _locked(connection: Connection, tenant_id: int, group_id: str, if_match: str | None) -> StoredGroup:
    """The group read under its row lock in a writing transaction, checked against `if_match`."""
    current = group_rows.get(writing(connection), tenant_id, group_id, for_update=True)
    documents.check_version(GROUP.name, current, if_match)
    return current


def _save(
    connection: Connection, tenant_id: int, current: StoredGroup, doc: Mapping[str, Any], delta: MemberDelta
) -> StoredGroup:
    """Write the document if it changed and bump version and lastModified if anything changed."""
    delta = dataclasses.replace(delta, skipped=memberships.reported(tenant_id, current.id, delta.skipped))
    if doc == current.doc and not (delta.added or delta.removed):
        return dataclasses.replace(current, member_delta=delta)
    now = utcnow()
    values: dict[str, Any] = {"last_modified": now, "tenant_id_": tenant_id, "group_id_": current.id}
    if doc != current.doc:
        values.update(group_rows.document_columns(doc))
    try:
        [version] = group_rows.UPDATE.first(connection, values)
    except IntegrityError as error:
        raise group_rows.taken(doc["displayName"]) from error
    return StoredGroup(current.id, dict(doc), current.created, now, version, delta)


def _log(
    connection: Connection, origin: Origin, status: int, resource_type: ResourceType, stored: StoredGroup,
    diff: list[changes.Change], members: MemberDelta | None,
) -> None:
    for row in events.entries(origin, status, resource_type, stored, diff, members):
        events.stage(connection, row)
