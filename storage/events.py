"""The activity log and change feed: what happened to each tenant's directory, readable in commit order.

Writing. `stage()` queues an event (an `entry()`) on a Session's or Connection's transaction; a listener on the
connection's commit inserts the queued events as the last statement of that transaction, so an event commits with
the change it describes or not at all: a rollback discards it, and so does the rollback of a savepoint it was
staged in (a failed Bulk operation). On PostgreSQL a write that is one statement can instead carry its events itself
(`with_event`, `with_events`, `commit_now`): run in autocommit, the change, its events and the commit are that one
statement.
Nothing else inserts events.

Commit order. A feed reader asks for `id > cursor`. An autoincrement id is assigned at INSERT, not at COMMIT: on
PostgreSQL, transaction A can take id 10 and B id 11, B commits first, a reader sees 11 and moves its cursor past
10, which it then never sees once A commits. So the insert takes `pg_advisory_xact_lock(EVENTS_LOCK)` first: event
writers pass one at a time from their insert to their commit. PostgreSQL releases a transaction's locks only
after its commit is visible, so a writer that gets the lock gets a higher id than every event already committed,
and every snapshot holds a prefix of the id sequence: id order is commit order, and a cursor never skips an event.
The critical section is short (insert, COMMIT) and comes after every row lock the request takes, so it cannot
deadlock with them. SQLite admits one writer at a time already (writing requests BEGIN IMMEDIATE). Rolled-back
transactions leave gaps in the ids, never reorderings.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Integer,
    Pool,
    String,
    bindparam,
    case,
    collate,
    column,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from scim.errors import InvalidValue
from scim.schemas import USER, Attribute, ResourceType
from storage.db import connection_of, dialect
from storage.documents import timestamp
from storage.models import Event, Tenant, events_table, utcnow
from storage.prepared import Prepared

if TYPE_CHECKING:  # storage.groups writes its events through this module
    from storage.groups import MemberDelta

# -- event kinds ----------------------------------------------------------------------------------------------------

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_DELETED = "user.deleted"
GROUP_CREATED = "group.created"
GROUP_UPDATED = "group.updated"  # attributes other than displayName and members, or a write that changed nothing
GROUP_RENAMED = "group.renamed"
GROUP_MEMBERS_ADDED = "group.members_added"
GROUP_MEMBERS_REMOVED = "group.members_removed"
GROUP_DELETED = "group.deleted"
REQUEST_REJECTED = "request.rejected"

REDACTED = "[redacted]"
# Member ids listed in an event; the count is always complete.
MEMBER_IDS_SHOWN = 20
# Arbitrary, but fixed: the one advisory lock key event writers serialise on (PostgreSQL).
EVENTS_LOCK = 0x5C1E_0E7E
_PENDING = "scim.events.pending"
_SAVEPOINTS = "scim.events.savepoints"  # for each open savepoint, how many events were staged when it began


@dataclass(frozen=True)
class Origin:
    """Where an event comes from: the request, and the token that made it (its id, never its secret)."""

    method: str
    path: str
    tenant_id: int | None = None
    token_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Change:
    """One event kind with its compact diff."""

    kind: str
    diff: dict[str, Any]


# -- kinds and diffs ------------------------------------------------------------------------------------------------


def changes_on_create(
    resource_type: ResourceType, doc: Mapping[str, Any], password_set: bool = False, members: MemberDelta | None = None
) -> list[Change]:
    """`user.created` / `group.created` with every attribute set, the password redacted, the members summarised."""
    diff = document_diff(resource_type, {}, doc)
    if password_set:
        diff["password"] = {"new": REDACTED}
    if members is not None and (members.added or members.skipped):
        diff["members"] = _member_summary(members.added, members.skipped)
    return [Change(f"{resource_type.name.lower()}.created", diff)]


def changes_on_update(
    resource_type: ResourceType,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    password_set: bool = False,
    members: MemberDelta | None = None,
) -> list[Change]:
    """The events of one PUT or PATCH: a user's is one event, a group's one per kind of change (at least one)."""
    diff = document_diff(resource_type, before, after)
    if password_set:
        diff["password"] = {"new": REDACTED}
    if resource_type.name == USER.name:
        return [Change(_user_kind(before, after), diff)]
    return _group_changes(diff, members)


def _user_kind(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Deactivation and reactivation are events of their own (an unset `active` counts as active)."""
    was_active, is_active = before.get("active") is not False, after.get("active") is not False
    if was_active != is_active:
        return USER_REACTIVATED if is_active else USER_DEACTIVATED
    return USER_UPDATED


def group_document_changes(
    resource_type: ResourceType, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[Change]:
    """The events of a group write's document alone: `group.renamed`, `group.updated` (none if it is unchanged)."""
    return _group_document_changes(document_diff(resource_type, before, after))


def _group_document_changes(diff: dict[str, Any]) -> list[Change]:
    changes = []
    renamed = diff.pop("displayName", None)
    if renamed:
        changes.append(Change(GROUP_RENAMED, {"displayName": renamed}))
    if diff:
        changes.append(Change(GROUP_UPDATED, diff))
    return changes


def _group_changes(diff: dict[str, Any], members: MemberDelta | None) -> list[Change]:
    """The document's events, the membership's, or `group.updated` with an empty diff when nothing changed;
    `group_event_rows` makes the same in SQL."""
    changes = _group_document_changes(diff)
    if members is not None and (members.added or members.skipped):
        changes.append(Change(GROUP_MEMBERS_ADDED, {"members": _member_summary(members.added, members.skipped)}))
    if members is not None and members.removed:
        changes.append(Change(GROUP_MEMBERS_REMOVED, {"members": {"removed": _ids(members.removed)}}))
    return changes or [Change(GROUP_UPDATED, {})]


def _member_summary(added: Collection[str], skipped: Collection[str]) -> dict[str, Any]:
    summary = {"added": _ids(added)}
    if skipped:
        summary["skipped"] = _ids(skipped)
    return summary


def _ids(ids: Collection[str]) -> dict[str, Any]:
    """A capped, sorted list and the full count: a 10 000-member PUT stays a small row."""
    return {"ids": sorted(ids)[:MEMBER_IDS_SHOWN], "count": len(ids)}


def document_diff(
    resource_type: ResourceType, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """{path: {"old": …, "new": …}} for each attribute path whose value changed (a side is left out when unassigned).

    Paths are `name.givenName`, `emails` (multi-valued attributes compare as a whole) and
    `urn:…:enterprise:2.0:User:department`. Values of attributes that are `returned: never` (RFC 7643 §7, e.g.
    `password`) are replaced by REDACTED, as the schema data says, wherever they occur.
    """
    old, new = _flatten(resource_type, before), _flatten(resource_type, after)
    diff = {}
    for path in sorted(old.keys() | new.keys()):
        if old.get(path) != new.get(path):
            sides = {name: flat[path] for name, flat in (("old", old), ("new", new)) if path in flat}
            diff[path] = {name: _redact(resource_type, path, value) for name, value in sides.items()}
    return diff


def _flatten(resource_type: ResourceType, doc: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        schema = resource_type.schema_by_urn(key)
        if schema is not None and isinstance(value, Mapping):
            for name, item in value.items():
                _put(flat, f"{schema.id}:{name}", item)
        else:
            _put(flat, key, value)
    return flat


def _put(flat: dict[str, Any], path: str, value: Any) -> None:
    """A singular complex attribute becomes one path per sub-attribute."""
    if isinstance(value, Mapping):
        flat.update((f"{path}.{name}", item) for name, item in value.items())
    else:
        flat[path] = value


def _redact(resource_type: ResourceType, path: str, value: Any) -> Any:
    ref = resource_type.resolve_path(path)
    if ref is None:
        return value
    if ref.attribute.returned == "never" or (ref.sub_attribute and ref.sub_attribute.returned == "never"):
        return REDACTED
    return _redact_subs(ref.attribute, value) if ref.sub_attribute is None else value


def _redact_subs(attribute: Attribute, value: Any) -> Any:
    """Elements of a multi-valued complex attribute keep their sub-attributes, minus the never-returned ones."""
    hidden = {sub.name.lower() for sub in attribute.sub_attributes if sub.returned == "never"}
    if not hidden or not isinstance(value, list):
        return value
    return [{key: REDACTED if key.lower() in hidden else item for key, item in element.items()}
            if isinstance(element, Mapping) else element for element in value]


# -- writing --------------------------------------------------------------------------------------------------------


def stage(executor: Session | Connection, row: Mapping[str, Any]) -> None:
    """Queue an event (an `entry`) on the transaction of `executor` (begun if need be); it is inserted when that
    commits."""
    connection = connection_of(executor)
    if not connection.in_transaction():
        connection.begin()
    connection.info.setdefault(_PENDING, []).append(row)


def entry(
    origin: Origin,
    kind: str,
    status: int,
    resource_type: str | None = None,
    resource_id: str | None = None,
    diff: Mapping[str, Any] | None = None,
    scim_type: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One event's row: for `stage`, `commit_now` or a `with_event` statement (`event_params`)."""
    return _fit({
        "occurred_at": utcnow(), "tenant_id": origin.tenant_id, "token_id": origin.token_id,
        "client_ip": origin.client_ip, "user_agent": origin.user_agent, "method": origin.method,
        "path": origin.path, "resource_type": resource_type, "resource_id": resource_id, "kind": kind,
        "status": status, "scim_type": scim_type, "detail": detail, "diff": dict(diff) if diff is not None else None,
    })


# Column lengths of the event's strings, cut to fit.
_LENGTHS = {column.name: column.type.length for column in events_table.columns
            if getattr(column.type, "length", None)}
_INSERT = Prepared(insert(events_table))
_STAGED = tuple(column.name for column in events_table.columns if not column.primary_key)  # what stage() fills
_EVENT_PARAM = "event_"  # prefix of an event's parameters in a with_event statement


def _insert_in_order(after: CTE | None = None, prefix: str = "", rows: CTE | None = None) -> Insert:
    """PostgreSQL: the INSERT of one event (parameters `<prefix><column>`), taking the commit-order lock itself (one
    round trip, not two); with `after`, one event per row of that CTE, the lock taken once its rows are made; with
    `rows` too, one event per row of `rows` (in `position` order), whose columns (`kind`, `diff`) replace those
    parameters. The lock is taken in a MATERIALIZED CTE (never folded into the INSERT), which runs before the first
    row is built, so before the first id is drawn; the test that holds an event writer open checks that a second one
    waits."""
    lock = select(func.pg_advisory_xact_lock(EVENTS_LOCK))
    if after is not None:
        lock = lock.select_from(after)
    order = lock.cte("commit_order").prefix_with("MATERIALIZED")
    given = rows.c if rows is not None else {}
    values = select(*(given[name] if name in given else bindparam(prefix + name, type_=events_table.c[name].type)
                      for name in _STAGED)).select_from(order)
    if rows is not None:
        values = values.select_from(rows).order_by(rows.c.position)
    return insert(events_table).from_select(_STAGED, values)


_INSERT_IN_ORDER = Prepared(_insert_in_order())


def with_event(change: UpdateBase) -> Insert:
    """PostgreSQL: one statement that makes `change` (an INSERT, UPDATE or DELETE RETURNING a row for each row it
    writes) and inserts one event for each row it returns (the parameters of `event_params`), under the commit-order
    lock, taken after the change's rows, and so their row locks, as a commit takes it after the transaction's.

    Run outside a transaction (PostgreSQL's autocommit, as the request's reading Connection is), the statement is a
    transaction of its own: the change, its event and their commit cost one round trip instead of four (BEGIN, the
    change, the event, COMMIT), and they commit together or not at all. A change that writes no row adds no event."""
    return _insert_in_order(change.cte("change"), _EVENT_PARAM)


def with_events(rows: CTE, after: CTE) -> CTE:
    """PostgreSQL: a statement's events (one per row of `rows`: `group_event_rows`), each an `entry` (`event_params`)
    but for its kind and diff, inserted under the commit-order lock, taken once `after` has a row: `after` reads the
    statement's writes, so its row comes once they have taken their row locks (see `with_event`). A CTE, for a
    statement that returns something else."""
    return _insert_in_order(after, _EVENT_PARAM, rows).cte("logged")


def group_event_rows(delta: CTE) -> CTE:
    """PostgreSQL: the events of a group write as rows (kind, diff, position), as `changes_on_update` makes them: the
    document's, `group_document_changes` as the `changes` parameter (a JSON list of {kind, diff, position}, at most
    two: positions 1 and 2), then the membership's from `delta`, a one-row CTE of the ids the write `added`,
    `removed` and `skipped` (text[] columns); `group.updated` with an empty diff when none changed. (Sorting the ids
    here, only for an event that lists them, measured faster than sorting them in `delta`.)"""
    changes = (func.jsonb_to_recordset(bindparam("changes", type_=JSONB))
               .table_valued(column("kind", String), column("diff", JSONB), column("position", Integer))
               .render_derived(with_types=True))
    added, removed, skipped = (func.cardinality(delta.c[name]) > 0 for name in ("added", "removed", "skipped"))
    members_added = func.jsonb_build_object("added", _ids_in_sql(delta.c.added)).op("||")(
        case((skipped, func.jsonb_build_object("skipped", _ids_in_sql(delta.c.skipped))),
             else_=func.jsonb_build_object()))
    members_removed = func.jsonb_build_object("removed", _ids_in_sql(delta.c.removed))
    document = select(changes.c.kind, changes.c.diff, changes.c.position)
    return union_all(
        document,
        select(_text(GROUP_MEMBERS_ADDED), func.jsonb_build_object("members", members_added), literal(3))
        .where(or_(added, skipped)),
        select(_text(GROUP_MEMBERS_REMOVED), func.jsonb_build_object("members", members_removed), literal(4))
        .where(removed),
        select(_text(GROUP_UPDATED), func.jsonb_build_object(), literal(5))
        .where(~or_(added, removed, skipped), ~document.exists()),
    ).cte("group_events")


def _text(value: str) -> ColumnElement[str]:
    return literal(value, String)


def _ids_in_sql(ids: ColumnElement[Any]) -> ColumnElement[Any]:
    """`_ids` of a text[] column: the first MEMBER_IDS_SHOWN in code-point order (as Python sorts), and the count."""
    value = func.unnest(ids).table_valued("id").render_derived()
    first = select(value.c.id).order_by(collate(value.c.id, "C")).limit(MEMBER_IDS_SHOWN).scalar_subquery()
    return func.jsonb_build_object("ids", func.to_jsonb(func.array(first)), "count", func.cardinality(ids))


def event_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `entry` as the parameters of a `with_event` statement."""
    return {_EVENT_PARAM + name: value for name, value in row.items()}


def commit_now(connection: Connection, row: Mapping[str, Any]) -> None:
    """Insert one event (an `entry`) in a statement that commits as it runs, on a Connection outside a transaction
    (PostgreSQL's autocommit): a write that changed nothing still logs its event, in one round trip."""
    _INSERT_IN_ORDER.run(connection, row)


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length: a client's overlong User-Agent or URL must not fail the request."""
    for name, length in _LENGTHS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > length:
            row[name] = value[:length]
    return row


# The queue lives on the connection (`Connection.info`, kept with the pooled DBAPI connection), and these listeners
# follow its transaction, so a Session's work (which commits through its connection, after its flush) and a plain
# Connection's are treated alike.


@event.listens_for(Engine, "commit")
def _write_pending(connection: Connection) -> None:
    """Insert the staged events last in the transaction, right before its COMMIT, under the commit-order lock."""
    connection.info.pop(_SAVEPOINTS, None)
    pending = connection.info.pop(_PENDING, None)
    if not pending:
        return
    (_INSERT_IN_ORDER if dialect(connection) == "postgresql" else _INSERT).run_many(connection, pending)


@event.listens_for(Engine, "rollback")
def _discard_pending(connection: Connection) -> None:
    """A transaction rolled back takes its staged events with it."""
    if connection.invalidated:  # the database dropped it: its record's info goes with it (and checkin clears it)
        return
    connection.info.pop(_PENDING, None)
    connection.info.pop(_SAVEPOINTS, None)


@event.listens_for(Pool, "checkin")
def _forget_pending(_dbapi_connection: Any, record: Any) -> None:
    # A connection that goes back to the pool without either (its process died mid-request, say) keeps nothing.
    if record is not None:
        record.info.pop(_PENDING, None)
        record.info.pop(_SAVEPOINTS, None)


# Savepoints nest, so their marks are a stack (the savepoint event does not carry the savepoint's name yet).


@event.listens_for(Engine, "savepoint")
def _mark_savepoint(connection: Connection, _name: str | None) -> None:
    connection.info.setdefault(_SAVEPOINTS, []).append(len(connection.info.get(_PENDING, ())))


@event.listens_for(Engine, "release_savepoint")
def _release_savepoint(connection: Connection, _name: str, _context: Any) -> None:
    marks = connection.info.get(_SAVEPOINTS)
    if marks:
        marks.pop()


@event.listens_for(Engine, "rollback_savepoint")
def _discard_savepoint(connection: Connection, _name: str, _context: Any) -> None:
    """The events staged since the savepoint go with it (a failed Bulk operation)."""
    marks = connection.info.get(_SAVEPOINTS)
    mark = marks.pop() if marks else None
    if mark is not None and _PENDING in connection.info:
        del connection.info[_PENDING][mark:]


def prune(session: Session, older_than: datetime) -> int:
    """Delete the events that occurred before `older_than` (the retention limit); returns how many."""
    return session.execute(delete(Event).where(Event.occurred_at < older_than)).rowcount


# -- reading --------------------------------------------------------------------------------------------------------


def read(
    session: Session,
    *,
    after: int = 0,
    limit: int,
    tenant_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    newest: bool = False,
) -> list[tuple[Event, str | None]]:
    """Events with their tenant's name, in commit (id) order: the first `limit` after `after`, or with `newest` the
    last `limit` (still oldest first)."""
    query = select(Event, Tenant.name).outerjoin(Tenant, Tenant.id == Event.tenant_id).where(Event.id > after)
    if tenant_id is not None:
        query = query.where(Event.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if since is not None:
        query = query.where(Event.occurred_at >= since)
    query = query.order_by(Event.id.desc() if newest else Event.id).limit(limit)
    rows = [(row[0], row[1]) for row in session.execute(query)]
    return rows[::-1] if newest else rows


def newest_id(session: Session) -> int:
    """The id of the newest event, 0 when there is none: where following the log starts."""
    return session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0


def to_dict(event_row: Event, tenant_name: str | None) -> dict[str, Any]:
    """An event as the feed and `scim-server events --json` show it; its `id` is also the cursor to resume after it."""
    return {
        "id": encode_cursor(event_row.id), "time": timestamp(event_row.occurred_at), "tenant": tenant_name,
        "kind": event_row.kind, "status": event_row.status, "method": event_row.method, "path": event_row.path,
        "resource_type": event_row.resource_type, "resource_id": event_row.resource_id,
        "token_id": event_row.token_id, "client_ip": event_row.client_ip, "user_agent": event_row.user_agent,
        "scim_type": event_row.scim_type, "detail": event_row.detail, "diff": event_row.diff,
    }


def encode_cursor(event_id: int) -> str:
    """An opaque cursor: clients resume with it and never compute with it."""
    return base64.urlsafe_b64encode(event_id.to_bytes(8, "big")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidValue(f"The cursor {cursor!r} is not one this server issued.") from error
    if len(raw) != 8:
        raise InvalidValue(f"The cursor {cursor!r} is not one this server issued.")
    return int.from_bytes(raw, "big")

