"""Users of a tenant: the users store (storage.stores.ResourceStore). Every function is scoped by tenant_id.

A write is one call: `create`, `replace`, `patch`, `delete`, each given the request's Connection, and each writing
the user and its event (scim.changes) together. Where the write runs is decided here:

- On PostgreSQL, outside a transaction, a create, and a PUT or PATCH that leaves the user's emails as they are, are
  one statement that also writes the event and commits (`_INSERT_WITH_EVENT`, `_update_with_event`).
- Otherwise in a writing transaction (storage.connections.writing) that the caller commits: on SQLite BEGIN
  IMMEDIATE behind the writer queue, which is taken only for the write itself.
- A PUT or PATCH is first worked out on the user as the request's reads see it, and written only if the user is
  still at that version; when that cannot decide (the user moved on, or the If-Match or an operation fails against
  the snapshot), it is done again on the user read under the row lock, and an error is the error of that attempt.
- A new password is hashed (scrypt) before any write starts, so no other writer waits for it.

A taken userName is a `Uniqueness` error from the unique index; on PostgreSQL it leaves the caller's transaction
aborted, so the caller rolls back (a request's error path does) or ran the write in a savepoint (each Bulk
operation does): no savepoint per statement on the hot path.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Label,
    bindparam,
    column,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy import delete as delete_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim import changes
from scim.errors import NotFound, ScimError, Uniqueness
from scim.filters import Expr
from scim.patch import Patch, apply
from scim.payloads import ParsedResource
from scim.projection import Projection
from scim.schemas import USER, ResourceType
from scim.search import SearchParams
from scim.versions import etag
from storage import documents, events
from storage.connections import autocommits, dialect, is_reading, writing
from storage.events import Origin
from storage.models import (
    Group,
    GroupMember,
    User,
    group_members_table,
    groups_table,
    user_emails_table,
    users_table,
    utcnow,
)
from storage.prepared import Prepared
from storage.search import search_resources

_users, _emails, _groups, _members = users_table.c, user_emails_table.c, groups_table.c, group_members_table.c


def _groups_column(aggregate: Callable[..., ColumnElement[Any]], pair: Callable[..., ColumnElement[Any]]) -> Label[Any]:
    """The user's groups as one JSON array of [id, displayName] pairs, read in the same statement as the user (a
    correlated subquery on the member index), so no read of a user needs a second query for `groups`."""
    pairs = (
        select(aggregate(pair(_groups.id, _groups.display_name)))
        .select_from(group_members_table.join(groups_table, _groups.id == _members.group_id))
        .where(_members.member_id == _users.id, _members.tenant_id == _users.tenant_id)
        .scalar_subquery()
    )
    return type_coerce(pairs, JSON).label("groups")


# Statements of the request path, built once per dialect (storage/models.py says why).
_GROUPS = {
    "sqlite": _groups_column(func.json_group_array, func.json_array),
    "postgresql": _groups_column(func.json_agg, func.json_build_array),
}
_COLUMNS = {dialect: (_users.id, _users.doc, _users.created, _users.last_modified, _users.version, groups)
            for dialect, groups in _GROUPS.items()}
_BY_ID = _users.tenant_id == bindparam("tenant_id"), _users.id == bindparam("user_id")
# Per dialect: (read, read for update).
_GET = {dialect: (Prepared(select(*columns).where(*_BY_ID)),
                  Prepared(select(*columns).where(*_BY_ID).with_for_update(of=users_table)))
        for dialect, columns in _COLUMNS.items()}
_INSERT = Prepared(insert(users_table))
_UPDATE = Prepared(
    update(users_table).where(_users.tenant_id == bindparam("tenant_id_"), _users.id == bindparam("user_id_"))
)
_UPDATE_IF_CURRENT = Prepared(_UPDATE.statement.where(_users.version == bindparam("version_")))
_DELETE_EMAILS = Prepared(delete_rows(user_emails_table).where(_emails.user_id == bindparam("user_id")))
_INSERT_EMAILS = Prepared(insert(user_emails_table))


def _insert_with_event() -> Prepared:
    """PostgreSQL: a create and its event in one statement (storage.events.with_event): the user's row, its emails
    from one JSON array parameter (`emails`, rows of `_email_rows`: any number of them, one statement shape) and its
    event."""
    user = insert(users_table).values(
        {user_column.name: bindparam(user_column.name, type_=user_column.type) for user_column in users_table.columns}
    ).returning(_users.id)
    email_columns = [_emails[name] for name in ("position", "value", "value_key", "type", "primary", "display")]
    rows = (func.json_to_recordset(bindparam("emails", type_=JSON))
            .table_valued(*(column(c.name, c.type) for c in email_columns)).render_derived(with_types=True))
    emails = insert(user_emails_table).from_select(
        ["user_id", "tenant_id", *(c.name for c in email_columns)],
        select(bindparam("id", type_=_users.id.type), bindparam("tenant_id", type_=_users.tenant_id.type),
               *(rows.c[c.name] for c in email_columns)),
    ).cte("emails")
    return Prepared(events.with_event(user).add_cte(emails))


_INSERT_WITH_EVENT = _insert_with_event()


@functools.cache
def _update_with_event(columns: tuple[str, ...]) -> Prepared:
    """PostgreSQL: `_UPDATE_IF_CURRENT` of these columns and its event in one statement (storage.events.with_event).
    One per set of columns written: a few dozen at most (`_changed_values`)."""
    change = _UPDATE_IF_CURRENT.statement.values(
        {name: bindparam(name, type_=users_table.c[name].type) for name in columns}).returning(_users.id)
    return Prepared(events.with_event(change))


@dataclass(frozen=True)
class UserPage:
    """One page of a search: the users, the number of matches, RFC 9865 cursors when paging by cursor."""

    items: list[StoredUser]
    total: int
    next_cursor: str | None = None
    previous_cursor: str | None = None


@dataclass(frozen=True)
class StoredUser:
    id: str
    doc: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int
    groups: tuple[tuple[str, str], ...]  # (group id, displayName), ordered by displayName then id

    @property
    def etag(self) -> str:
        return etag(self.version)


def _stored(row: Sequence[Any]) -> StoredUser:
    """A row of the _COLUMNS: id, doc, created, last_modified, version, groups."""
    groups = sorted(((group_id, name) for group_id, name in row[5] or ()), key=lambda pair: (pair[1], pair[0]))
    return StoredUser(row[0], row[1], row[2], row[3], row[4], tuple(groups))


def _columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed copies of document attributes (see docs/design.md)."""
    user_name = doc["userName"]
    return {
        "user_name": user_name,
        "user_name_key": user_name.lower(),
        "external_id": doc.get("externalId"),
        "display_name": doc.get("displayName"),
        "active": doc.get("active"),
        "doc": dict(doc),
    }


def _email_rows(tenant_id: int, user_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for position, email in enumerate(doc.get("emails") or ()):
        value = email.get("value")
        rows.append({
            "user_id": user_id, "position": position, "tenant_id": tenant_id, "value": value,
            "value_key": value.lower() if isinstance(value, str) else None, "type": email.get("type"),
            "primary": email.get("primary"), "display": email.get("display"),
        })
    return rows


def _taken(user_name: str) -> Uniqueness:
    return Uniqueness(f"A user with userName {user_name!r} already exists (userName is case-insensitive).")


def get(executor: Session | Connection, tenant_id: int, user_id: str, *, for_update: bool = False) -> StoredUser:
    if not documents.is_id(user_id):
        raise NotFound(f"User {user_id} not found.")
    row = _GET[dialect(executor)][for_update].first(executor, {"tenant_id": tenant_id, "user_id": user_id})
    if row is None:
        raise NotFound(f"User {user_id} not found.")
    return _stored(row)


def search(
    executor: Session | Connection, tenant_id: int, resource_type: ResourceType, expr: Expr | None,
    params: SearchParams,
) -> UserPage:
    """Query users (RFC 7644 §3.4.2): filtered, sorted and paged in SQL by storage.search."""
    page = search_resources(executor, resource_type, tenant_id, expr, params, _COLUMNS[dialect(executor)])
    return UserPage([_stored(row) for row in page.rows], page.total or 0, page.next_cursor, page.previous_cursor)


def to_resources(
    _executor: Session | Connection, _tenant_id: int, stored: list[StoredUser], projection: Projection, base_url: str
) -> list[dict[str, Any]]:
    """Wire-form users; the read-only `groups` came with each user's row."""
    groups = {
        user.id: [{"value": group_id, "$ref": f"{base_url}/Groups/{group_id}", "display": name, "type": "direct"}
                  for group_id, name in user.groups]
        for user in stored
    }
    return documents.render(projection, stored, base_url, "groups", groups)


# -- writes ---------------------------------------------------------------------------------------------------------


def create(
    connection: Connection, tenant_id: int, resource_type: ResourceType, parsed: ParsedResource, origin: Origin
) -> StoredUser:
    """POST (RFC 7644 §3.3); a taken userName (any case) is a 409 from the database's unique index, even under
    races."""
    values = _new_row(tenant_id, documents.new_id(), parsed.document, hash_password(parsed.password))
    stored = _created(values)
    [event] = events.entries(origin, 201, resource_type, stored,
                             changes.on_create(resource_type, stored.doc, parsed.password is not None))
    email_rows = _email_rows(tenant_id, stored.id, stored.doc)
    try:
        if autocommits(connection):
            emails = [{name: value for name, value in row.items() if name not in ("user_id", "tenant_id")}
                      for row in email_rows]
            _INSERT_WITH_EVENT.run(connection, {**values, "emails": emails, **events.event_params(event)})
            events.written((event["kind"],))
            return stored
        _INSERT.run(writing(connection), values)
    except IntegrityError as error:
        raise _taken(stored.doc["userName"]) from error
    _INSERT_EMAILS.run_many(connection, email_rows)
    events.stage(connection, event)
    return stored


def replace(
    connection: Connection, tenant_id: int, resource_type: ResourceType, user_id: str, parsed: ParsedResource,
    if_match: str | None, origin: Origin,
) -> StoredUser:
    """PUT (RFC 7644 §3.5.1): read-only attributes in the body are ignored; a stale `if_match` is a 412 (§3.14).
    A body without `active` keeps the current value: Okta's PUT may omit it."""

    def replaced(current: StoredUser) -> dict[str, Any]:
        doc = dict(parsed.document)
        if not parsed.active_given and "active" in current.doc:
            doc["active"] = current.doc["active"]
        return doc

    password_hash = hash_password(parsed.password)
    return _update(_Update(connection, tenant_id, resource_type, user_id, if_match, origin, password_hash), replaced)


def patch(
    connection: Connection, tenant_id: int, resource_type: ResourceType, user_id: str, operations: Patch,
    if_match: str | None, origin: Origin,
) -> StoredUser:
    """PATCH (RFC 7644 §3.5.2): all operations or none; a stale `if_match` is a 412 (§3.14)."""
    password_hash = hash_password(operations.password)
    update = _Update(connection, tenant_id, resource_type, user_id, if_match, origin, password_hash)
    return _update(update, lambda current: apply(operations, current.doc))


def delete(connection: Connection, tenant_id: int, user_id: str, if_match: str | None, origin: Origin) -> None:
    """DELETE (RFC 7644 §3.6); with `if_match`, only at that version (§3.14). The user's emails and memberships go
    with it (ON DELETE CASCADE), and its groups' versions move, as their membership changed."""
    if not documents.is_id(user_id):
        raise NotFound(f"User {user_id} not found.")
    writing(connection)
    if if_match:
        documents.check_version(USER.name, get(connection, tenant_id, user_id, for_update=True), if_match)
    # The groups are locked before the user, the order a group PATCH takes.
    member_of = select(GroupMember.group_id).where(GroupMember.member_id == user_id)
    connection.execute(
        update(Group)
        .where(Group.tenant_id == tenant_id, Group.id.in_(member_of))
        .values(version=Group.version + 1, last_modified=utcnow())
    )
    version = connection.scalar(
        delete_rows(User).where(User.tenant_id == tenant_id, User.id == user_id).returning(User.version))
    if version is None:
        raise NotFound(f"User {user_id} not found.")
    events.stage(connection, events.deletion(origin, changes.USER_DELETED, USER.name, user_id, version))


@dataclass(frozen=True)
class _Update:
    """A PUT or PATCH under way: where it writes, what it is told, and the new password's hash (None: unchanged)."""

    connection: Connection
    tenant_id: int
    resource_type: ResourceType
    user_id: str
    if_match: str | None
    origin: Origin
    password_hash: str | None

    def event(self, before: StoredUser, after: StoredUser) -> dict[str, Any]:
        diff = changes.on_update(self.resource_type, before.doc, after.doc, self.password_hash is not None)
        [event] = events.entries(self.origin, 200, self.resource_type, after, diff)
        return event


def _update(update: _Update, change: Callable[[StoredUser], dict[str, Any]]) -> StoredUser:
    """Write `change(current user)`: first from the request's snapshot, else under the row lock (module docstring)."""
    connection = update.connection
    if is_reading(connection):
        current = get(connection, update.tenant_id, update.user_id)  # NotFound: no user by that id, locked or not
        try:
            documents.check_version(USER.name, current, update.if_match)
            doc = change(current)
        except ScimError:
            doc = None
        stored = None if doc is None else _write_if_current(update, current, doc)
        if stored is not None:
            return stored
    writing(connection)
    current = get(connection, update.tenant_id, update.user_id, for_update=True)
    documents.check_version(USER.name, current, update.if_match)
    stored = _save(update, current, change(current))
    assert stored is not None  # under the row lock, the user is at `current.version`
    events.stage(connection, update.event(current, stored))
    return stored


def _write_if_current(update: _Update, current: StoredUser, doc: dict[str, Any]) -> StoredUser | None:
    """Write `doc` over `current`, read without a lock, if the user is still at its version; None, with nothing
    written, if it has moved on."""
    connection = update.connection
    if not autocommits(connection) or _emails_changed(current, doc):
        writing(connection)
        stored = _save(update, current, doc, if_current=True)
        if stored is not None:
            events.stage(connection, update.event(current, stored))
        return stored
    if doc == current.doc and update.password_hash is None:
        events.commit_now(connection, update.event(current, current))
        return current
    values = _changed_values(current, doc, update.password_hash)
    stored = _saved(current, values)
    event = update.event(current, stored)
    params = {**values, "tenant_id_": update.tenant_id, "user_id_": current.id, "version_": current.version,
              **events.event_params(event)}
    try:
        written = _update_with_event(tuple(values)).run(connection, params)
    except IntegrityError as error:
        raise _taken(doc["userName"]) from error
    if not written:
        return None
    events.written((event["kind"],))
    return stored


def _save(update: _Update, current: StoredUser, doc: dict[str, Any], *, if_current: bool = False) -> StoredUser | None:
    """Write a new document for `current` in the transaction under way, bumping version and lastModified; an
    unchanged one is not rewritten. With `if_current`, None if the user is no longer at `current.version`."""
    if doc == current.doc and update.password_hash is None:
        return current
    values = _changed_values(current, doc, update.password_hash)
    where = {"tenant_id_": update.tenant_id, "user_id_": current.id}
    try:
        if if_current:
            if _UPDATE_IF_CURRENT.run(update.connection, {**values, **where, "version_": current.version}) == 0:
                return None
        else:
            _UPDATE.run(update.connection, {**values, **where})
    except IntegrityError as error:
        raise _taken(doc["userName"]) from error
    if _emails_changed(current, doc):
        _DELETE_EMAILS.run(update.connection, {"user_id": current.id})
        _INSERT_EMAILS.run_many(update.connection, _email_rows(update.tenant_id, current.id, doc))
    return _saved(current, values)


def hash_password(password: str | None) -> str | None:
    """scrypt (RFC 7914) with a random salt, or None without a new password; the cleartext is never stored."""
    if password is None:
        return None
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def _new_row(tenant_id: int, user_id: str, doc: Mapping[str, Any], password_hash: str | None) -> dict[str, Any]:
    now = utcnow()
    return {**_columns(doc), "id": user_id, "tenant_id": tenant_id, "created": now, "last_modified": now,
            "version": 1, "password_hash": password_hash}


def _created(values: Mapping[str, Any]) -> StoredUser:
    """The user an INSERT of `values` (from `_new_row`) makes: a new user belongs to no group."""
    return StoredUser(values["id"], values["doc"], values["created"], values["last_modified"], 1, groups=())


def _changed_values(current: StoredUser, doc: dict[str, Any], password_hash: str | None) -> dict[str, Any]:
    """The columns an UPDATE writes to make `doc` of `current`, with a new version and lastModified. Only the indexed
    copies that changed are written: SQLite rewrites an index whenever a column of it is SET, whatever the value."""
    before = _columns(current.doc)
    values = {name: value for name, value in _columns(doc).items() if name == "doc" or value != before[name]}
    values.update(last_modified=utcnow(), version=current.version + 1)
    if password_hash is not None:
        values["password_hash"] = password_hash
    return values


def _saved(current: StoredUser, values: Mapping[str, Any]) -> StoredUser:
    """`current` as the UPDATE of `values` (from `_changed_values`) leaves it."""
    return StoredUser(current.id, values["doc"], current.created, values["last_modified"], values["version"],
                      current.groups)


def _emails_changed(current: StoredUser, doc: Mapping[str, Any]) -> bool:
    return doc.get("emails") != current.doc.get("emails")
