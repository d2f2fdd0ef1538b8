"""The request journal: the SCIM requests of a watched tenant (its setup link is live, or its traffic is captured),
for its live status and for troubleshooting.

A tenant is watched while `tenants.watch_until` or `tenants.capture_until` is in the future; authentication reads
both with the token (storage.tokens), so an unwatched tenant's requests cost nothing here. Each watched request is one
row, written after its response is decided (app/journal.py), and the tenant keeps its last KEPT rows: each insert
prunes the older ones. While the tenant's traffic is captured, the row also keeps the request's and the response's
headers and bodies (`captured`, redacted and capped by scim.capture). Captured traffic is kept for CAPTURE_KEPT at
most, and a new capture starts with none: `start_capture` clears the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, null, select, update
from sqlalchemy.orm import Session

from scim.capture import MAX_DURATION
from scim.errors import InvalidValue
from storage.connections import commit, is_reading, start_reading, writing
from storage.documents import timestamp
from storage.models import JournalEntry, Tenant, journal_table, utcnow

KEPT = 200
CAPTURE_KEPT = timedelta(hours=24)

_INSERT = insert(journal_table)
# The newest KEPT rows of the tenant stay; `id < (the KEPT-th newest id)` is empty while there are fewer.
_PRUNE = delete(journal_table).where(
    journal_table.c.tenant_id == bindparam("tenant"),
    journal_table.c.id < (select(journal_table.c.id).where(journal_table.c.tenant_id == bindparam("tenant"))
                          .order_by(journal_table.c.id.desc()).offset(KEPT - 1).limit(1).scalar_subquery()),
)
_EXPIRE = (update(journal_table)
           .where(journal_table.c.tenant_id == bindparam("tenant"), journal_table.c.captured.is_not(None),
                  journal_table.c.occurred_at < bindparam("expired"))
           .values(captured=null()))
_LENGTHS = {column.name: column.type.length for column in journal_table.columns
            if getattr(column.type, "length", None)}


def watched(watch_until: datetime | None, capture_until: datetime | None, now: datetime) -> bool:
    """Whether a tenant's requests go to the journal now."""
    return (watch_until is not None and watch_until > now) or capturing(capture_until, now)


def capturing(capture_until: datetime | None, now: datetime) -> bool:
    return capture_until is not None and capture_until > now


def entry(tenant_id: int, method: str, path: str, status: int, user_agent: str | None, facts: Mapping[str, Any],
          captured: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One journal row, its strings cut to their columns (a client's overlong URL must not lose the row)."""
    row = {"tenant_id": tenant_id, "occurred_at": utcnow(), "method": method, "path": path, "status": status,
           "user_agent": user_agent, "facts": dict(facts)}
    if captured:
        row["captured"] = dict(captured)  # left out, not None, which a JSON column would store as JSON null
    for name, length in _LENGTHS.items():
        if isinstance(row[name], str) and len(row[name]) > length:
            row[name] = row[name][:length]
    return row


def record(connection: Connection, row: Mapping[str, Any]) -> None:
    """Write one row (an `entry`) and prune the tenant's older ones, in a transaction of its own on the request's
    Connection, after rolling back whatever it had under way (the request's work is committed or void by now)."""
    if not is_reading(connection):
        connection.rollback()
        start_reading(connection)
    writing(connection)
    params = {"tenant": row["tenant_id"]}
    connection.execute(_INSERT, row)
    connection.execute(_PRUNE, params)
    if "captured" in row:
        connection.execute(_EXPIRE, {**params, "expired": row["occurred_at"] - CAPTURE_KEPT})
    commit(connection)


def recent(session: Session, tenant_id: int, limit: int) -> list[JournalEntry]:
    """The tenant's last `limit` requests, newest first."""
    return list(session.scalars(select(JournalEntry).where(JournalEntry.tenant_id == tenant_id)
                                .order_by(JournalEntry.id.desc()).limit(limit)))


def captured(session: Session, tenant_id: int, limit: int = KEPT) -> list[JournalEntry]:
    """The tenant's captured requests of the last CAPTURE_KEPT, newest first."""
    return list(session.scalars(
        select(JournalEntry)
        .where(JournalEntry.tenant_id == tenant_id, JournalEntry.captured.is_not(None),
               JournalEntry.occurred_at >= utcnow() - CAPTURE_KEPT)
        .order_by(JournalEntry.id.desc()).limit(limit)))


def start_capture(session: Session, tenant: Tenant, duration: timedelta) -> datetime:
    """Capture the tenant's traffic for `duration` (at most scim.capture.MAX_DURATION) from now, after discarding the
    traffic an earlier capture kept; returns when it ends. The caller commits."""
    if not timedelta(minutes=1) <= duration <= MAX_DURATION:
        raise InvalidValue(f"A capture runs for 1 minute at least and {MAX_DURATION.total_seconds() / 3600:.0f} hours "
                           "at most.")
    session.execute(update(JournalEntry).where(JournalEntry.tenant_id == tenant.id,
                                               JournalEntry.captured.is_not(None)).values(captured=null()))
    tenant.capture_until = utcnow() + duration
    session.flush()
    return tenant.capture_until


def stop_capture(session: Session, tenant: Tenant) -> None:
    """End the tenant's capture now; what it kept stays readable until it expires. The caller commits."""
    tenant.capture_until = None
    session.flush()


def prune_captured(session: Session) -> int:
    """Discard captured traffic older than CAPTURE_KEPT, of every tenant; returns how many requests lost it."""
    return session.execute(update(JournalEntry).where(JournalEntry.captured.is_not(None),
                                                      JournalEntry.occurred_at < utcnow() - CAPTURE_KEPT)
                           .values(captured=null())).rowcount


def to_dict(entry: JournalEntry) -> dict[str, Any]:
    """A captured request as the admin API and `scim-server capture show --json` give it."""
    captured = entry.captured or {}
    return {"id": entry.id, "time": timestamp(entry.occurred_at), "method": entry.method, "path": entry.path,
            "status": entry.status, "user_agent": entry.user_agent, "request": captured.get("request"),
            "response": captured.get("response")}
