"""What of a tenant's change feed may go out now: the one read that webhook deliveries and the admin API's change
feed make, so that the mass-deprovisioning guard, which stops both at a hold, is applied in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from storage.models import Event


@dataclass(frozen=True)
class Hold:
    """A tripped guard: `event_id` is its `tenant.held` event (one message per endpoint), `summary` what that message
    and the console show (JSON-able)."""

    id: int
    tenant_id: int
    event_id: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class Deliverable:
    """The tenant's events after a cursor that may go out now, in commit order, and the cursor to resume after them
    (`through`: past what was read, or up to the event a hold stops at); `hold` when a hold stopped the read."""

    events: list[Event]
    through: int
    hold: Hold | None = None


def deliverable(executor: Session | Connection, tenant_id: int, after: int, limit: int) -> Deliverable:
    """The first `limit` events of the tenant after `after` that may go out now."""
    session = executor if isinstance(executor, Session) else Session(bind=executor)
    rows = list(session.scalars(select(Event).where(Event.tenant_id == tenant_id, Event.id > after)
                                .order_by(Event.id).limit(limit)))
    return Deliverable(rows, rows[-1].id if rows else after)
