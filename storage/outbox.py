"""Webhook delivery with the events table as the outbox: an event commits with its change, so nothing rolled back is
sent and nothing committed is lost.

Fan-out: for each enabled endpoint, the tenant's events after the endpoint's cursor that may go out now (read only
through storage.guard.deliverable) become pending deliveries, and the cursor moves past them, in one transaction
that moves the cursor only from where it was read: of two deliverers fanning out one endpoint together, one writes
(and the unique (endpoint, event) makes a repeated fan-out harmless anyway). A hold adds one `tenant.held` delivery
per endpoint.

Claim: a due pending delivery is claimed only when it is the oldest pending one of its (endpoint, resource): one
resource's messages go out in commit order, one at a time, and a retry waiting out its backoff holds back only that
resource's later messages. A claim sets a lease (PostgreSQL: the rows are locked, SKIP LOCKED, while it is set, so
two deliverers never claim one row); a deliverer killed mid-batch leaves leases that expire, and its claims are
claimed again: at-least-once, with the same webhook-id. Results are written in one transaction per batch.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage import guard, webhooks
from storage.connections import start_reading
from storage.db import write_transaction
from storage.models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    events_table,
    guard_holds_table,
    tenants_table,
    utcnow,
    webhook_deliveries_table,
    webhook_endpoints_table,
)

EXCERPT_LENGTH = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt: what to send, and where."""

    id: int
    attempts: int
    endpoint_id: int
    url: str
    secret: str
    event: Row[Any]  # the event's columns, read as an Event's attributes
    tenant: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class Outcome:
    """An attempt's result: `status` is the HTTP status (None: no answer, `error` says why)."""

    delivery_id: int
    endpoint_id: int
    attempts: int
    status: int | None
    latency_ms: int
    excerpt: str | None
    event_id: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


_D, _E, _P = webhook_deliveries_table, events_table, webhook_endpoints_table

# -- fan-out ------------------------------------------------------------------------------------------------------

# The endpoints with something to fan out: an event of their tenant after their cursor that no open hold stops, or
# an open hold of their tenant whose `tenant.held` message they lack (whoever scanned may have tripped it). A held
# tenant's endpoint that has its hold message waits, and polling it takes no write lock.
_H = guard_holds_table.c
_BEHIND = select(_P.c.id, _P.c.tenant_id, _P.c.cursor, _P.c.kinds).where(
    _P.c.disabled_at.is_(None),
    or_(exists().where(_E.c.tenant_id == _P.c.tenant_id, _E.c.id > _P.c.cursor,
                       ~exists().where(_H.tenant_id == _E.c.tenant_id, _H.released_at.is_(None),
                                       _H.first_event_id <= _E.c.id)),
        exists().where(_H.tenant_id == _P.c.tenant_id, _H.released_at.is_(None),
                       ~exists().where(_D.c.endpoint_id == _P.c.id, _D.c.event_id == _H.event_id))),
).order_by(_P.c.id)


def fan_out(engine: Engine, batch: int) -> int:
    """Turn the events after each enabled endpoint's cursor into pending deliveries; returns how many were made.
    A read first, so that an idle server takes no write lock."""
    with engine.connect() as connection:
        start_reading(connection)
        endpoints = connection.execute(_BEHIND).all()
        if not endpoints:
            return 0
        # Read (and scanned by the guard, which writes on a connection of its own) before the write transaction, so
        # that SQLite's write lock, which the SCIM requests wait for, is held for the writes alone.
        reads = [(endpoint, guard.deliverable(connection, endpoint.tenant_id, endpoint.cursor, batch))
                 for endpoint in endpoints]
    made = 0
    now = utcnow()
    with write_transaction(engine) as connection:
        for endpoint, read in reads:
            # The cursor moves only from where it was read: an endpoint another deliverer fanned out meanwhile, or
            # a replay moved, or that was disabled, is left as it is now.
            moved = connection.execute(update(_P).where(_P.c.id == endpoint.id, _P.c.cursor == endpoint.cursor,
                                                        _P.c.disabled_at.is_(None)).values(cursor=read.through))
            if not moved.rowcount:
                continue
            rows = [_pending(endpoint.id, event.id, f"{event.resource_type}/{event.resource_id}", now)
                    for event in read.events if event.kind in webhooks.DELIVERED_KINDS
                    and webhooks.wants(endpoint.kinds, event.kind)]
            if read.hold is not None:
                rows.append(_pending(endpoint.id, read.hold.event_id, webhooks.HELD, now, read.hold.summary))
            if rows:
                insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)
                connection.execute(insert(_D).on_conflict_do_nothing(), rows)
                made += len(rows)
    return made


def _pending(endpoint_id: int, event_id: int, resource_key: str, now: datetime,
             data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"endpoint_id": endpoint_id, "event_id": event_id, "resource_key": resource_key[:300],
            "status": DELIVERY_PENDING, "attempts": 0, "next_attempt_at": now, "data": data}


# -- claim --------------------------------------------------------------------------------------------------------



def _due(now: datetime) -> list[ColumnElement[bool]]:
    """A delivery that may be attempted now: pending, due, not leased, its endpoint enabled, and no earlier delivery
    of its resource to that endpoint pending."""
    # The oldest pending event of the resource, as a correlated scalar subquery: a probe of the partial index for
    # each candidate whatever the statistics say (PostgreSQL plans a NOT EXISTS on a fresh table as a scan).
    pending = _D.alias("pending")
    oldest = (select(func.min(pending.c.event_id))
              .where(pending.c.endpoint_id == _D.c.endpoint_id, pending.c.resource_key == _D.c.resource_key,
                     pending.c.status == DELIVERY_PENDING)
              .scalar_subquery())
    return [*_free(now), _D.c.next_attempt_at <= now, _P.c.disabled_at.is_(None), _D.c.event_id == oldest]


def _free(now: datetime) -> list[ColumnElement[bool]]:
    """A delivery that is pending and not leased."""
    return [_D.c.status == DELIVERY_PENDING, or_(_D.c.lease_until.is_(None), _D.c.lease_until < now)]


def _claimable(now: datetime, limit: int) -> Select[Any]:
    return (select(_D.c.id).select_from(_D.join(_P, _P.c.id == _D.c.endpoint_id)).where(*_due(now))
            .order_by(_D.c.event_id).limit(limit).with_for_update(of=_D, skip_locked=True))


def _contents(ids: Sequence[int]) -> Select[Any]:
    # Core rows, not ORM objects: a batch's rows are read once and never changed through a Session.
    return (
        select(_D.c.id.label("delivery_id"), _D.c.attempts, _D.c.endpoint_id, _D.c.data, _P.c.url, _P.c.secret,
               tenants_table.c.name.label("tenant_name"), *_E.c)
        .select_from(_D.join(_P, _P.c.id == _D.c.endpoint_id).join(_E, _E.c.id == _D.c.event_id)
                     .join(tenants_table, tenants_table.c.id == _P.c.tenant_id))
        .where(_D.c.id.in_(ids))
        .order_by(_D.c.event_id)
    )


def due(engine: Engine) -> bool:
    """Whether a delivery may be claimed now (a read: it takes no write lock)."""
    query = select(_D.c.id).select_from(_D.join(_P, _P.c.id == _D.c.endpoint_id)).where(*_due(utcnow())).limit(1)
    with engine.connect() as connection:
        return connection.scalar(query) is not None


def claim(engine: Engine, limit: int, lease_seconds: float) -> list[Claimed]:
    """Claim up to `limit` due deliveries, each the oldest pending one of its resource, for `lease_seconds`. A read
    first, so that an idle server takes no write lock."""
    now = utcnow()
    lease = update(_D).values(lease_until=now + timedelta(seconds=lease_seconds))
    # The messages (events with their JSON) are read after the claim's commit, under the lease, so that SQLite's
    # write lock, which the SCIM requests wait for, is held for the claim alone.
    if engine.dialect.name == "sqlite":
        # One writer at a time: the choice is read before the write lock, which then leases what is still free.
        with engine.connect() as connection:
            start_reading(connection)
            chosen = list(connection.scalars(_claimable(now, limit)))
        if not chosen:
            return []
        with write_transaction(engine) as connection:
            ids = list(connection.scalars(lease.where(_D.c.id.in_(chosen), *_free(now)).returning(_D.c.id)))
    else:  # the chosen rows stay locked until the lease commits; other deliverers skip them and choose others
        if not due(engine):
            return []
        with write_transaction(engine) as connection:
            ids = list(connection.scalars(_claimable(now, limit)))
            if ids:
                connection.execute(lease.where(_D.c.id.in_(ids)))
    if not ids:
        return []
    with engine.connect() as connection:
        rows = connection.execute(_contents(ids)).all()
    return [Claimed(row.delivery_id, row.attempts, row.endpoint_id, row.url, row.secret, row, row.tenant_name,
                    row.data) for row in rows]


# -- results ------------------------------------------------------------------------------------------------------

_DONE = (update(webhook_deliveries_table)
         .where(webhook_deliveries_table.c.id == bindparam("b_id"),
                webhook_deliveries_table.c.status == DELIVERY_PENDING)
         .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                 next_attempt_at=bindparam("b_next"), lease_until=None, last_status=bindparam("b_last_status"),
                 latency_ms=bindparam("b_latency"), response_excerpt=bindparam("b_excerpt"),
                 last_attempt_at=bindparam("b_at")))


def record(engine: Engine, outcomes: Sequence[Outcome], delays: Sequence[float]) -> None:
    """Write a batch's results: delivered, or due again after the next delay (with jitter), or, past the last delay,
    failed and its endpoint disabled."""
    if not outcomes:
        return
    now = utcnow()
    rows = []
    disabled: dict[int, str] = {}
    for outcome in outcomes:
        attempts = outcome.attempts + 1
        status, next_at = DELIVERY_DELIVERED, now
        if not outcome.ok:
            if attempts > len(delays):
                status = DELIVERY_FAILED
                disabled[outcome.endpoint_id] = (
                    f"event {outcome.event_id} failed {attempts} times (last: "
                    f"{outcome.status or 'no answer'}{': ' + outcome.excerpt if outcome.excerpt else ''})")[:500]
            else:
                status = DELIVERY_PENDING
                next_at = now + timedelta(seconds=delays[attempts - 1] * random.uniform(0.75, 1.25))
        rows.append({"b_id": outcome.delivery_id, "b_status": status, "b_attempts": attempts, "b_next": next_at,
                     "b_last_status": outcome.status, "b_latency": outcome.latency_ms,
                     "b_excerpt": (outcome.excerpt or "")[:EXCERPT_LENGTH] or None, "b_at": now})
    with write_transaction(engine) as connection:
        connection.execute(_DONE, rows)
        for endpoint_id, reason in disabled.items():
            connection.execute(update(webhook_endpoints_table)
                               .where(webhook_endpoints_table.c.id == endpoint_id,
                                      webhook_endpoints_table.c.disabled_at.is_(None))
                               .values(disabled_at=now, disabled_reason=reason))

