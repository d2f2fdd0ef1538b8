"""The activity log and change feed, persisted: events are written with the change they describe, read in commit
order, and pruned. What the events say (kinds, diffs, snapshots) is decided by scim.changes.

Writing. `stage()` queues an event (an `entry()`) on a Connection's transaction; a listener on the connection's
commit (`listen`, installed on each engine storage.db makes) inserts the queued events as the last statement of that
transaction, so an event commits with the change it describes or not at all: a rollback discards it, and so does the
rollback of a savepoint it was staged in (a failed Bulk operation). On PostgreSQL a write that is one statement
carries its events itself (`with_event`, `with_events`, `commit_now`): run in autocommit, the change, its events and
the commit are that one statement; `insert_in_transaction` inserts one in a transaction under way, for a writer that
needs its id. Nothing else inserts events. Whatever inserts them tells `written`, which calls
the callbacks given to `observe` (the app's metrics) with each event's kind.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Connection, Engine, Insert, bindparam, delete, event, exists, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from scim.changes import Change, MemberDelta, snapshot
from scim.errors import InvalidValue
from scim.schemas import ResourceType
from scim.versions import etag
from storage.connections import (
    autocommits,
    commit,
    connection_of,
    dialect,
    is_reading,
    start_reading,
    writing,
)
from storage.documents import Stored, snapshot_resource, timestamp
from storage.models import (
    DELIVERY_PENDING,
    Event,
    Tenant,
    events_table,
    guard_holds_table,
    utcnow,
    webhook_deliveries_table,
    webhook_endpoints_table,
)
from storage.prepared import Prepared

# Arbitrary, but fixed: the one advisory lock key event writers serialise on (PostgreSQL).
EVENTS_LOCK = 0x5C1E_0E7E
_PENDING = "scim.events.pending"
_SAVEPOINTS = "scim.events.savepoints"  # for each open savepoint, how many events were staged when it began
_observers: list[Callable[[str], None]] = []


@dataclass(frozen=True)
class Origin:
    """Where an event comes from: the request (with its id, as in the log), and the token that made it (its id, never
    its secret)."""

    method: str
    path: str
    tenant_id: int | None = None
    token_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


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
    snapshot: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One event's row: for `stage`, `commit_now` or a `with_event` statement (`event_params`)."""
    return _fit({
        "occurred_at": utcnow(), "tenant_id": origin.tenant_id, "token_id": origin.token_id,
        "client_ip": origin.client_ip, "user_agent": origin.user_agent, "request_id": origin.request_id,
        "method": origin.method, "path": origin.path, "resource_type": resource_type, "resource_id": resource_id,
        "kind": kind, "status": status, "scim_type": scim_type, "detail": detail,
        "diff": dict(diff) if diff is not None else None,
        "snapshot": dict(snapshot) if snapshot is not None else None,
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
    """PostgreSQL: a statement's events (one per row of `rows`, as storage.group_patch builds them), each an `entry`
    (`event_params`) but for its kind and diff, inserted under the commit-order lock, taken once `after` has a row:
    `after` reads the statement's writes, so its row comes once they have taken their row locks (see `with_event`).
    A CTE, for a statement that returns something else; its rows are the events' kinds (`kind`), for `written`."""
    return _insert_in_order(after, _EVENT_PARAM, rows).returning(events_table.c.kind).cte("logged")


def event_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `entry` as the parameters of a `with_event` statement."""
    return {_EVENT_PARAM + name: value for name, value in row.items()}


def commit_now(connection: Connection, row: Mapping[str, Any]) -> None:
    """Insert one event (an `entry`) in a statement that commits as it runs, on a Connection outside a transaction
    (PostgreSQL's autocommit): a write that changed nothing still logs its event, in one round trip."""
    _INSERT_IN_ORDER.run(connection, row)
    written((row["kind"],))


def insert_in_transaction(connection: Connection, row: Mapping[str, Any]) -> int:
    """Insert one event (an `entry`) now, in the writing transaction `connection` has under way, and return its id
    (storage.guard's events, which the rows it writes beside them name). On PostgreSQL the commit-order lock is taken
    first and held to the commit, as for staged events. `written` is told at once: the caller commits next."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(EVENTS_LOCK)))
    event_id = connection.execute(insert(events_table).returning(events_table.c.id), dict(row)).scalar_one()
    written((row["kind"],))
    return event_id


def observe(callback: Callable[[str], None]) -> None:
    """Call `callback(kind)` for each event written in this process from now on; a callback given twice is called
    once."""
    if callback not in _observers:
        _observers.append(callback)


def written(kinds: Iterable[str]) -> None:
    """Events of these kinds were inserted: by this module, or by a store's statement that carried them
    (`with_event`, `with_events`)."""
    if _observers:
        for kind in kinds:
            for callback in _observers:
                callback(kind)


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length: a client's overlong User-Agent or URL must not fail the request."""
    for name, length in _LENGTHS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > length:
            row[name] = value[:length]
    return row


def entries(
    origin: Origin, status: int, resource_type: ResourceType, stored: Stored, changes: Iterable[Change],
    members: MemberDelta | None = None,
) -> list[dict[str, Any]]:
    """The rows of one write's events (scim.changes), one per change, each with its snapshot of `stored`, the
    resource as the write leaves it, and of `members`, what the write did to a group's membership."""
    resource, version = snapshot_resource(resource_type, stored), etag(stored.version)
    return [entry(origin, change.kind, status, resource_type.name, stored.id, change.diff,
                  snapshot=snapshot(change.kind, resource, version, members)) for change in changes]


def deletion(origin: Origin, kind: str, resource_type: str, resource_id: str, version: int) -> dict[str, Any]:
    """The row of a deletion's event: its snapshot holds the version the resource had and no resource."""
    return entry(origin, kind, 204, resource_type, resource_id, snapshot=snapshot(kind, None, etag(version)))


def record(connection: Connection, row: Mapping[str, Any]) -> None:
    """Write one event now, in a transaction of its own, after rolling back the write `connection` had under way
    (a rejected request's work is void, and on SQLite its write lock is released first)."""
    if not is_reading(connection):
        connection.rollback()
        start_reading(connection)
    if autocommits(connection):
        commit_now(connection, row)
        return
    stage(writing(connection), row)
    commit(connection)


def listen(engine: Engine) -> None:
    """Follow the transactions of `engine`'s connections: staged events are inserted at commit and discarded with a
    rollback. The queue lives on the connection (`Connection.info`, kept with the pooled DBAPI connection)."""
    event.listen(engine, "commit", _write_pending)
    event.listen(engine, "rollback", _discard_pending)
    event.listen(engine, "checkin", _forget_pending)
    event.listen(engine, "savepoint", _mark_savepoint)
    event.listen(engine, "release_savepoint", _release_savepoint)
    event.listen(engine, "rollback_savepoint", _discard_savepoint)


def _write_pending(connection: Connection) -> None:
    """Insert the staged events last in the transaction, right before its COMMIT, under the commit-order lock."""
    connection.info.pop(_SAVEPOINTS, None)
    pending = connection.info.pop(_PENDING, None)
    if not pending:
        return
    (_INSERT_IN_ORDER if dialect(connection) == "postgresql" else _INSERT).run_many(connection, pending)
    written(row["kind"] for row in pending)


def _discard_pending(connection: Connection) -> None:
    """A transaction rolled back takes its staged events with it."""
    if connection.invalidated:  # the database dropped it: its record's info goes with it (and checkin clears it)
        return
    connection.info.pop(_PENDING, None)
    connection.info.pop(_SAVEPOINTS, None)


def _forget_pending(_dbapi_connection: Any, record: Any) -> None:
    # A connection that goes back to the pool without either (its process died mid-request, say) keeps nothing.
    if record is not None:
        record.info.pop(_PENDING, None)
        record.info.pop(_SAVEPOINTS, None)


# Savepoints nest, so their marks are a stack (the savepoint event does not carry the savepoint's name).


def _mark_savepoint(connection: Connection, _name: str | None) -> None:
    connection.info.setdefault(_SAVEPOINTS, []).append(len(connection.info.get(_PENDING, ())))


def _release_savepoint(connection: Connection, _name: str, _context: Any) -> None:
    marks = connection.info.get(_SAVEPOINTS)
    if marks:
        marks.pop()


def _discard_savepoint(connection: Connection, _name: str, _context: Any) -> None:
    """The events staged since the savepoint go with it (a failed Bulk operation)."""
    marks = connection.info.get(_SAVEPOINTS)
    mark = marks.pop() if marks else None
    if mark is not None and _PENDING in connection.info:
        del connection.info[_PENDING][mark:]


def prune(session: Session, older_than: datetime) -> int:
    """Delete the events that occurred before `older_than` (the retention limit) and that nothing waits for; returns
    how many. An event an open guard hold holds, one after the cursor of an enabled webhook endpoint of its tenant
    (not yet fanned out to it), or one with a pending delivery to an enabled endpoint (being retried) is kept whatever
    its age: it is still to be delivered, and its deliveries go with it (ON DELETE CASCADE)."""
    # Each NOT EXISTS probes an index for the candidate: guard_holds (tenant_id, first_event_id), unique,
    # webhook_endpoints (tenant_id), and webhook_deliveries (event_id), partial over the pending ones (few, where the
    # delivered pile up). A disabled endpoint keeps nothing, neither by its cursor nor by its pending deliveries: it
    # is sent nothing until a replay. A Core DELETE: no ORM synchronisation reads back the ids it deletes.
    holds, endpoints, deliveries = guard_holds_table.c, webhook_endpoints_table.c, webhook_deliveries_table.c
    held = exists().where(holds.tenant_id == events_table.c.tenant_id, holds.released_at.is_(None),
                          holds.first_event_id <= events_table.c.id)
    unsent = exists().where(endpoints.tenant_id == events_table.c.tenant_id, endpoints.disabled_at.is_(None),
                            endpoints.cursor < events_table.c.id)
    retried = exists().where(deliveries.event_id == events_table.c.id, deliveries.status == DELIVERY_PENDING,
                             endpoints.id == deliveries.endpoint_id, endpoints.disabled_at.is_(None))
    return session.execute(delete(events_table).where(events_table.c.occurred_at < older_than, ~held, ~unsent,
                                                      ~retried)).rowcount


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
        "request_id": event_row.request_id, "scim_type": event_row.scim_type, "detail": event_row.detail,
        "diff": event_row.diff,
    }


def encode_cursor(event_id: int) -> str:
    """An opaque cursor: clients resume with it and never compute with it."""
    return base64.urlsafe_b64encode(event_id.to_bytes(8, "big")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidValue(f"The cursor {cursor!r} is not one this server issued.") from error
    # 8 bytes are 0 to 2^64 - 1, ids stop at 2^63 - 1 (a signed BIGINT): past that no event exists to resume after.
    if len(raw) != 8 or raw[0] & 0x80:
        raise InvalidValue(f"The cursor {cursor!r} is not one this server issued.")
    return int.from_bytes(raw, "big")

