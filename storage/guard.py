"""The mass-deprovisioning guard, and what of a tenant's change feed may go out now: the one read that webhook
deliveries and the admin API's change feed make (`deliverable`, `deliverable_all`), so that the guard, which stops
both at a hold, is applied in one place.

Detection. A tenant's events are scanned in commit (id) order, each once: the tenant's guard row keeps how far the
scan got and the counted events still in the sliding window (scim.deprovisions). Whoever reads the feed scans first
(the webhook fan-out, the admin API, `guard status`, the console), so the SCIM write path pays nothing. When the
window's total exceeds the tenant's threshold, the event that exceeded it trips the guard: a hold starts at it, and a
`tenant.held` event records it. A scan reads before it writes, and writes its result only if the guard row is still
as it read it, so concurrent readers make one hold per trip (the hold's unique (tenant, first event) says so again),
and SQLite's write lock, which the SCIM requests wait for, is held for the write alone.

A hold stops deliveries, never the SCIM API: events before its first event still go out, none at or after it until
`release`, which lets go of everything up to the tenant's newest event, optionally collapsed to its net effect
(scim.net_effect; the events it drops are recorded and never delivered), and scanning resumes after that range.
The guard's own events (`tenant.held`, `tenant.released`) are in the activity log, not in deliveries: a hold reaches
a receiver as `Deliverable.hold`. Released holds are pruned with the activity log (`prune`).

The guard works on a connection of its own and commits there, so the reads take any Session or Connection, and a
caller's transaction on PostgreSQL neither waits for it nor holds its locks. On SQLite a caller that holds the write
lock (a writing transaction, as the webhook fan-out's) would make a connection of its own wait for that very lock:
there the guard works in the caller's transaction, which commits it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scim import changes
from scim.deprovisions import Window, deprovisions
from scim.errors import Conflict, InvalidValue
from scim.net_effect import Held, dropped
from storage import events
from storage.connections import IMMEDIATE, connection_of, dialect, is_reading, start_reading, writing
from storage.documents import timestamp
from storage.models import (
    Event,
    events_table,
    groups_table,
    guard_dropped_table,
    guard_holds_table,
    tenant_guards_table,
    tenants_table,
    users_table,
    utcnow,
)

# Defaults, for a tenant that sets none (see docs/guard.md): a 15-minute window, and more than 5% of the tenant's
# users, but never fewer than 10, deprovisioned in it. A 20-person tenant trips at its 11th deactivation (half the
# company), a 20,000-person one at its 1,001st; an IdP's ordinary day (a leaver, a team moved) stays far below both.
DEFAULT_WINDOW_SECONDS = 15 * 60
DEFAULT_MINIMUM = 10
DEFAULT_SHARE = 0.05
SAMPLE_SIZE = 10  # users and groups named in a hold's summary
# A scan reads this many events per statement and at most SCAN_BATCHES statements per call; a backlog beyond that is
# scanned by the next read (what is not scanned yet is not delivered yet).
SCAN_BATCH = 1000
SCAN_BATCHES = 50
_ORIGIN_METHOD = "GUARD"


@dataclass(frozen=True)
class Hold:
    """A tripped guard: `event_id` is its `tenant.held` event (one message per endpoint), `summary` what that message
    and the console show (JSON-able); deliveries stop before `first_event_id`, the event that tripped it."""

    id: int
    tenant_id: int
    event_id: int
    summary: dict[str, Any]
    first_event_id: int = 0
    tripped_at: datetime | None = None


@dataclass(frozen=True)
class Deliverable:
    """The tenant's events after a cursor that may go out now, in commit order, and the cursor to resume after them
    (`through`: past what was read, or up to the event a hold stops at); `hold` when a hold stopped the read."""

    events: list[Event]
    through: int
    hold: Hold | None = None


@dataclass(frozen=True)
class Status:
    """A tenant's guard as `guard status`, the admin API and the console show it."""

    tenant_id: int
    enabled: bool
    max_deprovisions: int  # the threshold in force
    max_deprovisions_set: bool  # false: the default for the tenant's size
    window_seconds: int
    window_set: bool
    in_window: int  # deprovisions counted in the window now
    hold: Hold | None
    held_events: int  # events waiting behind the hold

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_deprovisions": self.max_deprovisions,
                "max_deprovisions_default": not self.max_deprovisions_set, "window_seconds": self.window_seconds,
                "window_default": not self.window_set, "in_window": self.in_window,
                "held": self.hold.summary if self.hold else None, "held_events": self.held_events}


@dataclass(frozen=True)
class Released:
    """What a release let go: the hold, the newest event it covers, and how many events it delivers and dropped."""

    hold: Hold
    through: int
    delivered: int
    dropped: int


def default_threshold(users: int) -> int:
    """The default threshold for a tenant of `users` users."""
    return max(DEFAULT_MINIMUM, math.ceil(users * DEFAULT_SHARE))


# -- reading what may go out ----------------------------------------------------------------------------------------


def deliverable(executor: Session | Connection, tenant_id: int, after: int, limit: int) -> Deliverable:
    """The first `limit` events of the tenant after `after` that may go out now (scanning the tenant's new events
    first)."""
    with _working(executor) as connection:
        guard, hold = _scan(connection, tenant_id)
        upper = guard.scanned_through if guard is not None else 0
        if hold is not None:
            upper = min(upper, hold.first_event_id - 1)
        query = _delivered().where(Event.tenant_id == tenant_id, Event.id > after, Event.id <= upper)
        rows = _events(connection, query.order_by(Event.id).limit(limit))
    if len(rows) == limit:
        return Deliverable(rows, rows[-1].id)
    return Deliverable(rows, max(after, upper), hold)


def deliverable_all(executor: Session | Connection, after: int, limit: int) -> Deliverable:
    """The first `limit` events of every tenant (and of requests no tenant was known for) after `after` that may go
    out now: the read ends before the first held event of any tenant, so a cursor never passes an event that is held
    (`hold` is the hold that ended it)."""
    with _working(executor) as connection:
        rows = _events(connection, _delivered().where(Event.id > after).order_by(Event.id).limit(limit))
        cutoff, stop = None, None
        for tenant_id in sorted({row.tenant_id for row in rows if row.tenant_id is not None}):
            guard, hold = _scan(connection, tenant_id)
            bound = hold.first_event_id if hold is not None else _unscanned(connection, tenant_id, guard)
            if bound is not None and (cutoff is None or bound < cutoff):
                cutoff, stop = bound, hold
    page = [row for row in rows if cutoff is None or row.id < cutoff]
    if len(page) < len(rows):
        return Deliverable(page, max(after, cutoff - 1), stop)
    return Deliverable(page, page[-1].id if page else after)


def _unscanned(connection: Connection, tenant_id: int, guard: Row[Any] | None) -> int | None:
    """The tenant's first event a scan (which left `guard`) has not reached (one capped by SCAN_BATCHES), if any."""
    return connection.scalar(select(func.min(events_table.c.id)).where(
        events_table.c.tenant_id == tenant_id, events_table.c.id > (guard.scanned_through if guard else 0)))


def _delivered() -> Any:
    """Events that go out: not the guard's own, not dropped by a net release."""
    return select(Event).where(Event.kind.not_in(changes.GUARD_KINDS),
                               ~exists().where(guard_dropped_table.c.event_id == Event.id))


def _events(connection: Connection, query: Any) -> list[Event]:
    with Session(bind=connection) as session:
        return list(session.scalars(query))


# -- the guard's settings and state ---------------------------------------------------------------------------------


def configure(executor: Session | Connection, tenant_id: int, settings: Mapping[str, Any]) -> None:
    """Set any of `enabled` (bool), `max_deprovisions` and `window_seconds` (a positive int, or None for the
    default), in the caller's transaction."""
    unknown = set(settings) - {"enabled", "max_deprovisions", "window_seconds"}
    if unknown:
        raise InvalidValue(f"Unknown guard settings: {', '.join(sorted(unknown))}.")
    if "enabled" in settings and not isinstance(settings["enabled"], bool):
        raise InvalidValue("enabled is true or false.")
    for name in ("max_deprovisions", "window_seconds"):
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9):
            raise InvalidValue(f"{name} is a positive integer, or null for the default.")
    connection = connection_of(executor)
    _ensure_guard(connection, tenant_id)
    connection.execute(update(tenant_guards_table).where(tenant_guards_table.c.tenant_id == tenant_id)
                       .values(**settings))


def status(executor: Session | Connection, tenant_id: int) -> Status:
    """The tenant's guard now (its new events scanned first)."""
    with _working(executor) as connection:
        guard, hold = _scan(connection, tenant_id)
        threshold = _threshold(connection, tenant_id, guard)
        seconds = (guard.window_seconds if guard is not None else None) or DEFAULT_WINDOW_SECONDS
        window = Window(seconds, list((guard.window if guard is not None else None) or []))
        held = 0
        if hold is not None:
            held = connection.scalar(select(func.count()).select_from(_delivered().where(
                Event.tenant_id == tenant_id, Event.id >= hold.first_event_id).subquery())) or 0
    return Status(tenant_id, guard is None or guard.enabled, threshold,
                  guard is not None and guard.max_deprovisions is not None, seconds,
                  guard is not None and guard.window_seconds is not None, window.current(utcnow().timestamp()),
                  hold, held)


def held_tenants(executor: Session | Connection) -> set[int]:
    """The ids of the tenants whose deliveries are held now: those with an open hold, as the last scans left them
    (this reads, and never scans)."""
    return set(executor.scalars(select(guard_holds_table.c.tenant_id)
                                .where(guard_holds_table.c.released_at.is_(None))))


@contextmanager
def _working(executor: Session | Connection) -> Iterator[Connection]:
    """The connection the guard works on: the caller's when it holds SQLite's write lock (module docstring), else a
    reading connection of the guard's own."""
    caller = _sqlite_writer(executor)
    if caller is not None:
        yield caller
        return
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    with bind.engine.connect() as connection:
        start_reading(connection)
        yield connection


def _sqlite_writer(executor: Session | Connection) -> Connection | None:
    if dialect(executor) != "sqlite" or (isinstance(executor, Session) and not executor.in_transaction()):
        return None
    connection = connection_of(executor)
    writer = connection.in_transaction() and not is_reading(connection)
    return connection if writer and connection.get_execution_options().get(IMMEDIATE) else None


def _guard(connection: Connection, tenant_id: int, lock: bool = False) -> Row[Any] | None:
    query = select(tenant_guards_table).where(tenant_guards_table.c.tenant_id == tenant_id)
    return connection.execute(query.with_for_update() if lock else query).first()


def _ensure_guard(connection: Connection, tenant_id: int) -> None:
    make = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[connection.dialect.name]
    connection.execute(make(tenant_guards_table).values(tenant_id=tenant_id)
                       .on_conflict_do_nothing(index_elements=["tenant_id"]))


def _open_hold(connection: Connection, tenant_id: int) -> Hold | None:
    row = connection.execute(select(guard_holds_table).where(
        guard_holds_table.c.tenant_id == tenant_id, guard_holds_table.c.released_at.is_(None))).first()
    return _hold(row) if row is not None else None


def _hold(row: Row[Any]) -> Hold:
    return Hold(row.id, row.tenant_id, row.event_id, row.summary, row.first_event_id, row.tripped_at)


def _threshold(connection: Connection, tenant_id: int, guard: Row[Any] | None) -> int:
    if guard is not None and guard.max_deprovisions is not None:
        return guard.max_deprovisions
    users = connection.scalar(select(func.count()).where(users_table.c.tenant_id == tenant_id)) or 0
    return default_threshold(users)


def _newest(connection: Connection, tenant_id: int) -> int:
    return connection.scalar(select(func.coalesce(func.max(events_table.c.id), 0))
                             .where(events_table.c.tenant_id == tenant_id)) or 0


# -- detection ------------------------------------------------------------------------------------------------------


def _scan(connection: Connection, tenant_id: int) -> tuple[Row[Any] | None, Hold | None]:
    """Scan the tenant's events not scanned yet and commit what the scan found (on the guard's own connection);
    returns the guard row and the open hold as the scan leaves them. Nothing to do costs three reads."""
    guard = _guard(connection, tenant_id)
    hold = _open_hold(connection, tenant_id) if guard is not None else None
    if hold is not None or (guard.scanned_through if guard is not None else 0) >= _newest(connection, tenant_id):
        return guard, hold  # a tenant without events gets no guard row until it has some
    if guard is None:
        with _writing(connection):
            _ensure_guard(connection, tenant_id)
        guard = _guard(connection, tenant_id)
    assert guard is not None  # made just above
    scan = _scanned(connection, tenant_id, guard)  # reads: SQLite's write lock is taken for the result alone
    with _writing(connection):
        hold = _record(connection, tenant_id, guard, scan)
    return _guard(connection, tenant_id), hold


@contextmanager
def _writing(connection: Connection) -> Iterator[None]:
    """A write of the guard: on its own (reading) connection a transaction committed at the end, or rolled back on
    an error, then reading again; on a caller's, part of the caller's transaction."""
    if not is_reading(connection):
        yield
        return
    writing(connection)
    try:
        yield
        connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()
        start_reading(connection)


@dataclass(frozen=True)
class _Scan:
    """What a scan from a guard row's state found: the new state, and the trip if the window went over."""

    through: int
    window: list[dict[str, Any]]
    trip: tuple[int, Window, int] | None = None  # the event that tripped it, the window, the threshold


def _scanned(connection: Connection, tenant_id: int, guard: Row[Any]) -> _Scan:
    if not guard.enabled:
        return _Scan(_newest(connection, tenant_id), [])
    threshold: int | None = None  # read when an event first counts: a default one counts the tenant's users
    window = Window(guard.window_seconds or DEFAULT_WINDOW_SECONDS, list(guard.window or []))
    through = guard.scanned_through
    columns = (events_table.c.id, events_table.c.occurred_at, events_table.c.kind, events_table.c.resource_type,
               events_table.c.resource_id, events_table.c.diff)
    for _batch in range(SCAN_BATCHES):
        rows = connection.execute(select(*columns).where(events_table.c.tenant_id == tenant_id,
                                                         events_table.c.id > through)
                                  .order_by(events_table.c.id).limit(SCAN_BATCH)).all()
        for row in rows:
            through = row.id
            count = deprovisions(row.kind, row.diff)
            if not count:
                continue
            total = window.add(_entry(row, count))
            threshold = threshold if threshold is not None else _threshold(connection, tenant_id, guard)
            if total > threshold:
                return _Scan(through, [], (row.id, window, threshold))
        if len(rows) < SCAN_BATCH:
            break
    return _Scan(through, window.entries)


def _record(connection: Connection, tenant_id: int, guard: Row[Any], scan: _Scan) -> Hold | None:
    """Write a scan's result, and its hold if it tripped, only if the guard row is still as the scan read it and no
    hold is open; returns the tenant's open hold, if any. A scanner (or a release) that wrote first wins: the row's
    scan position moved, or a hold is open, so this one writes nothing, and two scanners never make two holds of one
    trip nor scan past a hold."""
    open_hold = exists().where(guard_holds_table.c.tenant_id == tenant_id, guard_holds_table.c.released_at.is_(None))
    moved = connection.execute(update(tenant_guards_table)
                               .where(tenant_guards_table.c.tenant_id == tenant_id,
                                      tenant_guards_table.c.scanned_through == guard.scanned_through, ~open_hold)
                               .values(scanned_through=scan.through, window=scan.window))
    if not moved.rowcount:
        return _open_hold(connection, tenant_id)
    if scan.trip is not None:
        return _trip(connection, tenant_id, *scan.trip)
    return None


def _entry(row: Row[Any], count: int) -> dict[str, Any]:
    """A counted event as the window keeps it: with the removed members' ids (a sample) for the hold's summary."""
    entry = {"id": row.id, "at": row.occurred_at.timestamp(), "n": count, "kind": row.kind,
             "type": row.resource_type, "rid": row.resource_id}
    if row.kind == changes.GROUP_MEMBERS_REMOVED:
        entry["ids"] = (((row.diff or {}).get("members") or {}).get("removed") or {}).get("ids", [])[:SAMPLE_SIZE]
    return entry


def _trip(connection: Connection, tenant_id: int, first_event_id: int, window: Window, threshold: int) -> Hold:
    name = connection.scalar(select(tenants_table.c.name).where(tenants_table.c.id == tenant_id))
    now = utcnow()
    summary = {"tenant": name, "tripped_at": timestamp(now), "window_seconds": window.seconds,
               "max_deprovisions": threshold, "deprovisions": window.total(), "counts": window.counts(),
               "sample": _sample(connection, window.entries)}
    origin = events.Origin(_ORIGIN_METHOD, f"/admin/v1/tenants/{name}/guard", tenant_id)
    event_id = events.insert_in_transaction(connection, events.entry(origin, changes.TENANT_HELD, 200, diff=summary))
    made = connection.execute(guard_holds_table.insert().values(
        tenant_id=tenant_id, first_event_id=first_event_id, event_id=event_id, summary=summary, tripped_at=now))
    return Hold(made.inserted_primary_key[0], tenant_id, event_id, summary, first_event_id, now)


def _sample(connection: Connection, entries: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Up to SAMPLE_SIZE users and groups the window's events deprovisioned, newest first, with their names where
    they still exist."""
    users: dict[str, None] = {}
    groups: dict[str, None] = {}
    for entry in reversed(entries):
        if entry["type"] == "Group":
            groups.setdefault(entry["rid"])
            users.update(dict.fromkeys(entry.get("ids", ())))
        elif entry["rid"]:
            users.setdefault(entry["rid"])
    user_ids, group_ids = list(users)[:SAMPLE_SIZE], list(groups)[:SAMPLE_SIZE]
    user_names = dict(connection.execute(select(users_table.c.id, users_table.c.user_name)
                                         .where(users_table.c.id.in_(user_ids))).all())
    group_names = dict(connection.execute(select(groups_table.c.id, groups_table.c.display_name)
                                          .where(groups_table.c.id.in_(group_ids))).all())
    return {"users": [{"id": rid, "name": user_names.get(rid)} for rid in user_ids],
            "groups": [{"id": rid, "name": group_names.get(rid)} for rid in group_ids]}


# -- release --------------------------------------------------------------------------------------------------------


def release(executor: Session | Connection, tenant_id: int, net: bool = False) -> Released:
    """Release the tenant's hold: every event up to the newest goes out in order, or with `net` only those whose
    effect stands (scim.net_effect); scanning resumes after them."""
    with _working(executor) as connection, _writing(connection):
        _ensure_guard(connection, tenant_id)
        _guard(connection, tenant_id, lock=True)
        hold = _open_hold(connection, tenant_id)
        if hold is None:
            raise Conflict("The tenant's guard holds nothing to release.")
        through = _newest(connection, tenant_id)
        held = connection.execute(select(events_table).where(
            events_table.c.tenant_id == tenant_id, events_table.c.id >= hold.first_event_id,
            events_table.c.id <= through, events_table.c.kind.not_in(changes.GUARD_KINDS))
            .order_by(events_table.c.id)).all()
        drops = dropped([_held(row) for row in held]) if net else set()
        if drops:
            connection.execute(guard_dropped_table.insert(), [{"event_id": event_id, "hold_id": hold.id}
                                                              for event_id in sorted(drops)])
        now = utcnow()
        connection.execute(update(guard_holds_table).where(guard_holds_table.c.id == hold.id)
                           .values(released_at=now, released_through=through, net=net))
        connection.execute(update(tenant_guards_table).where(tenant_guards_table.c.tenant_id == tenant_id)
                           .values(scanned_through=through, window=[]))
        released = Released(hold, through, len(held) - len(drops), len(drops))
        name = hold.summary.get("tenant")
        origin = events.Origin(_ORIGIN_METHOD, f"/admin/v1/tenants/{name}/guard/release", tenant_id)
        diff = {"hold": hold.event_id, "net": net, "delivered": released.delivered, "dropped": released.dropped,
                "released_at": timestamp(now)}
        events.insert_in_transaction(connection, events.entry(origin, changes.TENANT_RELEASED, 200, diff=diff))
    return released


def _held(row: Row[Any]) -> Held:
    """A held event for scim.net_effect: a membership event's member ids from its snapshot when it has them (they are
    complete there), else from its diff (complete when not capped)."""
    if row.kind not in (changes.GROUP_MEMBERS_ADDED, changes.GROUP_MEMBERS_REMOVED):
        return Held(row.id, row.kind, row.resource_id, row.diff)
    side = "added" if row.kind == changes.GROUP_MEMBERS_ADDED else "removed"
    complete = ((row.snapshot or {}).get("members") or {}).get(side)
    if complete is not None:
        return Held(row.id, row.kind, row.resource_id, row.diff, frozenset(complete))
    capped = (((row.diff or {}).get("members") or {}).get(side)) or {}
    ids = capped.get("ids", [])
    return Held(row.id, row.kind, row.resource_id, row.diff, frozenset(ids), capped.get("count", 0) == len(ids))


# -- pruning --------------------------------------------------------------------------------------------------------


def prune(session: Session, cutoff: datetime) -> int:
    """Delete the holds released before `cutoff`, never an open one, with their record of the events a net release
    dropped; returns how many holds. A dropped event's record goes only once the event itself is pruned (so this
    runs after storage.events.prune): an event still kept stays undelivered, a replay included."""
    old = (guard_holds_table.c.released_at.is_not(None), guard_holds_table.c.released_at < cutoff)
    session.execute(delete(guard_dropped_table).where(
        guard_dropped_table.c.hold_id.in_(select(guard_holds_table.c.id).where(*old)),
        ~exists().where(events_table.c.id == guard_dropped_table.c.event_id)))
    # A hold goes only once none of its dropped records is left, so the foreign key's cascade never deletes one.
    return session.execute(delete(guard_holds_table).where(
        *old, ~exists().where(guard_dropped_table.c.hold_id == guard_holds_table.c.id))).rowcount
