"""Users of a tenant: create, read, replace, patch, delete. Every function is scoped by tenant_id; none commits.

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
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim.errors import NotFound, PreconditionFailed, Uniqueness
from scim.filters import Expr
from scim.patch import Patch, apply
from scim.payloads import ParsedResource
from scim.projection import Projection
from scim.schemas import ResourceType
from scim.search import SearchParams
from scim.versions import etag, if_match_ok
from storage import documents, events
from storage.db import autocommits, dialect
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
_DELETE_EMAILS = Prepared(delete(user_emails_table).where(_emails.user_id == bindparam("user_id")))
_INSERT_EMAILS = Prepared(insert(user_emails_table))


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


def hash_password(password: str) -> str:
    """scrypt (RFC 7914) with a random salt; the cleartext is never stored."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


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


def _write_emails(
    session: Session | Connection, tenant_id: int, user_id: str, doc: Mapping[str, Any], *, replace: bool
) -> None:
    if replace:
        _DELETE_EMAILS.run(session, {"user_id": user_id})
    _INSERT_EMAILS.run_many(session, _email_rows(tenant_id, user_id, doc))


def _taken(error: IntegrityError, user_name: str) -> Uniqueness:
    return Uniqueness(f"A user with userName {user_name!r} already exists (userName is case-insensitive).")


def create(
    session: Session | Connection, tenant_id: int, user_id: str, parsed: ParsedResource,
    password_hash: str | None = None,
) -> StoredUser:
    """Insert a user; a taken userName (any case) is a 409 from the database's unique index, even under races.
    `password_hash`: the new password already hashed (`hash_password`), so that the caller need not hold the write
    lock for scrypt's ~80 ms; without it a password in `parsed` is hashed here."""
    values = _new_row(tenant_id, user_id, parsed, password_hash)
    try:
        _INSERT.run(session, values)
    except IntegrityError as error:
        raise _taken(error, parsed.document["userName"]) from error
    _write_emails(session, tenant_id, user_id, parsed.document, replace=False)
    return _created(values)


def _new_row(tenant_id: int, user_id: str, parsed: ParsedResource, password_hash: str | None) -> dict[str, Any]:
    now = utcnow()
    return {**_columns(parsed.document), "id": user_id, "tenant_id": tenant_id, "created": now, "last_modified": now,
            "version": 1, "password_hash": _hash_of(parsed.password, password_hash)}


def _created(values: Mapping[str, Any]) -> StoredUser:
    """The user an INSERT of `values` (from `_new_row`) makes: a new user belongs to no group."""
    return StoredUser(values["id"], values["doc"], values["created"], values["last_modified"], 1, groups=())


def _insert_with_event() -> Prepared:
    """`create` and its event in one statement (storage.events.with_event): the user's row, its emails from one
    JSON array parameter (`emails`, rows of `_email_rows`: any number of them, one statement shape) and its event."""
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


def commit_create(
    connection: Connection,
    tenant_id: int,
    user_id: str,
    parsed: ParsedResource,
    events_of: Callable[[StoredUser], Sequence[Mapping[str, Any]]],
    password_hash: str | None = None,
) -> StoredUser:
    """`create` and its commit in one statement, on a Connection that autocommits (PostgreSQL, outside a
    transaction: storage.db.autocommits): the user, its emails and its event, `events_of(the new user)` (one
    `storage.events.entry`), commit together as the statement runs, or nothing does (a taken userName)."""
    if not autocommits(connection):
        raise ValueError("commit_create: on a Connection that autocommits")
    values = _new_row(tenant_id, user_id, parsed, password_hash)
    stored = _created(values)
    [event] = events_of(stored)
    emails = [{name: value for name, value in row.items() if name not in ("user_id", "tenant_id")}
              for row in _email_rows(tenant_id, user_id, parsed.document)]
    try:
        _INSERT_WITH_EVENT.run(connection, {**values, "emails": emails, **events.event_params(event)})
    except IntegrityError as error:
        raise _taken(error, parsed.document["userName"]) from error
    return stored


def _hash_of(password: str | None, password_hash: str | None) -> str | None:
    """The hash to store for a new password: the caller's, computed ahead, or computed now."""
    if password_hash is not None or password is None:
        return password_hash
    return hash_password(password)


def get(session: Session | Connection, tenant_id: int, user_id: str, *, for_update: bool = False) -> StoredUser:
    if not documents.is_id(user_id):
        raise NotFound(f"User {user_id} not found.")
    row = _GET[dialect(session)][for_update].first(session, {"tenant_id": tenant_id, "user_id": user_id})
    if row is None:
        raise NotFound(f"User {user_id} not found.")
    return _stored(row)


def search(
    session: Session | Connection, tenant_id: int, resource_type: ResourceType, expr: Expr | None, params: SearchParams
) -> UserPage:
    """Query users (RFC 7644 §3.4.2): filtered, sorted and paged in SQL by storage.query."""
    page = search_resources(session, resource_type, tenant_id, expr, params, _COLUMNS[dialect(session)])
    return UserPage([_stored(row) for row in page.rows], page.total or 0, page.next_cursor, page.previous_cursor)


def replace(
    session: Session | Connection, tenant_id: int, current: StoredUser, parsed: ParsedResource,
    password_hash: str | None = None,
) -> StoredUser:
    """PUT (RFC 7644 §3.5.1) over the locked current user; `password_hash` as for `create`."""
    return _save(session, tenant_id, current, replaced(current, parsed), _hash_of(parsed.password, password_hash))


def replaced(current: StoredUser, parsed: ParsedResource) -> dict[str, Any]:
    """The document a PUT makes of `current`. A body without `active` keeps the current value: Okta's PUT may omit
    it."""
    doc = dict(parsed.document)
    if not parsed.active_given and "active" in current.doc:
        doc["active"] = current.doc["active"]
    return doc


def patch(
    session: Session | Connection, tenant_id: int, current: StoredUser, operations: Patch,
    password_hash: str | None = None,
) -> StoredUser:
    """PATCH (RFC 7644 §3.5.2) applied to the locked current document; `password_hash` as for `create`."""
    return _save(session, tenant_id, current, apply(operations, current.doc),
                 _hash_of(operations.password, password_hash))


def save_if_current(
    session: Session | Connection, tenant_id: int, current: StoredUser, doc: dict[str, Any],
    password_hash: str | None,
) -> StoredUser | None:
    """Write `doc` (and a new password's hash) for `current`, read without a lock, if the user is still at
    `current.version`; None if it has moved on or is gone (the caller starts over under the lock). An unchanged
    document is not rewritten."""
    return _save(session, tenant_id, current, doc, password_hash, if_current=True)


def _save(
    session: Session | Connection,
    tenant_id: int,
    current: StoredUser,
    doc: dict[str, Any],
    password_hash: str | None,
    *,
    if_current: bool = False,
) -> StoredUser | None:
    """Write a new document for `current`, bumping version and lastModified; an unchanged one is not rewritten."""
    if doc == current.doc and password_hash is None:
        return current
    values = _changed_values(current, doc, password_hash)
    where = {"tenant_id_": tenant_id, "user_id_": current.id}
    try:
        if if_current:
            if _UPDATE_IF_CURRENT.run(session, {**values, **where, "version_": current.version}) == 0:
                return None
        else:
            _UPDATE.run(session, {**values, **where})
    except IntegrityError as error:
        raise _taken(error, doc["userName"]) from error
    if _emails_changed(current, doc):
        _write_emails(session, tenant_id, current.id, doc, replace=True)
    return _saved(current, values)


def _changed_values(current: StoredUser, doc: dict[str, Any], password_hash: str | None) -> dict[str, Any]:
    """The columns an UPDATE writes to make `doc` of `current`, with a new version and lastModified. Only the indexed
    copies that changed are written: SQLite rewrites an index whenever a column of it is SET, whatever the value,
    and PATCH active=false would otherwise touch five indexes instead of two."""
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


def fits_one_statement(current: StoredUser, doc: Mapping[str, Any]) -> bool:
    """Whether writing `doc` over `current` is one UPDATE of the user's row, as `commit_if_current` needs: not when
    its emails change (their rows are rewritten too)."""
    return not _emails_changed(current, doc)


def _emails_changed(current: StoredUser, doc: Mapping[str, Any]) -> bool:
    return doc.get("emails") != current.doc.get("emails")


@functools.cache
def _update_with_event(columns: tuple[str, ...]) -> Prepared:
    """`_UPDATE_IF_CURRENT` of these columns and its event, one statement (storage.events.with_event). One per set
    of columns written: a few dozen at most (`_changed_values`)."""
    change = _UPDATE_IF_CURRENT.statement.values(
        {name: bindparam(name, type_=users_table.c[name].type) for name in columns}).returning(_users.id)
    return Prepared(events.with_event(change))


def commit_if_current(
    connection: Connection,
    tenant_id: int,
    current: StoredUser,
    doc: dict[str, Any],
    password_hash: str | None,
    events_of: Callable[[StoredUser], Sequence[Mapping[str, Any]]],
) -> StoredUser | None:
    """`save_if_current` and its commit in one statement, on a Connection that autocommits (PostgreSQL, outside a
    transaction: storage.db.autocommits): the UPDATE and the user's event, `events_of(the user as written)` (one
    `storage.events.entry`), commit together as the statement runs, or neither does. None, with nothing written,
    if the user has moved on. Only for a write that `fits_one_statement`; one that changes nothing logs its event."""
    if not autocommits(connection) or not fits_one_statement(current, doc):
        raise ValueError("commit_if_current: one UPDATE, on a Connection that autocommits")
    if doc == current.doc and password_hash is None:
        [event] = events_of(current)  # a user's write is one event
        events.commit_now(connection, event)
        return current
    values = _changed_values(current, doc, password_hash)
    stored = _saved(current, values)
    [event] = events_of(stored)
    params = {**values, "tenant_id_": tenant_id, "user_id_": current.id, "version_": current.version,
              **events.event_params(event)}
    try:
        written = _update_with_event(tuple(values)).run(connection, params)
    except IntegrityError as error:
        raise _taken(error, doc["userName"]) from error
    return stored if written else None


def to_resources(
    _session: Session | Connection, _tenant_id: int, stored: list[StoredUser], projection: Projection, base_url: str
) -> list[dict[str, Any]]:
    """Wire-form users (the interface storage.groups shares); the read-only `groups` came with each user's row."""
    groups = {
        user.id: [{"value": group_id, "$ref": f"{base_url}/Groups/{group_id}", "display": name, "type": "direct"}
                  for group_id, name in user.groups]
        for user in stored
    }
    return documents.render(projection, stored, base_url, "groups", groups)


def check_version(current: StoredUser, if_match: str | None) -> None:
    """RFC 7644 §3.14: a stale If-Match is a 412 and nothing is written."""
    if not if_match_ok(if_match, current.etag):
        raise PreconditionFailed(f"User {current.id} is at version {current.etag}, not {if_match}.")


def remove(session: Session | Connection, tenant_id: int, user_id: str) -> None:
    """Delete a user; its emails and group memberships go with it (ON DELETE CASCADE)."""
    if not documents.is_id(user_id):
        raise NotFound(f"User {user_id} not found.")
    # The user's memberships go by cascade; their groups change, so their versions move (locking the groups before
    # the user, the order a group PATCH takes).
    member_of = select(GroupMember.group_id).where(GroupMember.member_id == user_id)
    session.execute(
        update(Group)
        .where(Group.tenant_id == tenant_id, Group.id.in_(member_of))
        .values(version=Group.version + 1, last_modified=utcnow())
    )
    result = session.execute(delete(User).where(User.tenant_id == tenant_id, User.id == user_id))
    if result.rowcount == 0:
        raise NotFound(f"User {user_id} not found.")

