"""Failed SCIM authentications counted per client address and minute: one row per address and minute, however many
failures there were, added to with one UPSERT (INSERT ... ON CONFLICT DO UPDATE ... RETURNING) that also reads the
count, so the workers of a server (and every server on the database) share it without a lock or a second statement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.connections import autocommits, commit, writing
from storage.models import AuthFailure, auth_failures_table
from storage.prepared import Prepared


def _add_statement(dialect_name: str) -> Prepared:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect_name](auth_failures_table)
    return Prepared(insert.on_conflict_do_update(
        index_elements=[auth_failures_table.c.client_ip, auth_failures_table.c.minute],
        set_={"failures": auth_failures_table.c.failures + insert.excluded.failures},
    ).returning(auth_failures_table.c.failures))


_ADDRESS_LENGTH = auth_failures_table.c.client_ip.type.length  # a forwarded "address" is whatever the proxy sent
_ADD = {name: _add_statement(name) for name in ("postgresql", "sqlite")}


def add(connection: Connection, client_ip: str, minute: datetime, failures: int) -> int:
    """Add `failures` to the address's count for `minute` (the address cut to the column's length) and commit; the
    count now. `connection` is a request's reading Connection (storage.connections): on PostgreSQL the statement
    commits as it runs; on SQLite it is a short writing transaction of its own."""
    params = {"client_ip": client_ip[:_ADDRESS_LENGTH], "minute": minute, "failures": failures}
    statement = _ADD[connection.dialect.name]
    if autocommits(connection):
        [(count,)] = statement.all(connection, params)
    else:
        [(count,)] = statement.all(writing(connection), params)
        commit(connection)
    return count


def recent(session: Session, since: datetime, limit: int) -> list[AuthFailure]:
    """The counts of the minutes from `since` on, newest minute first, and within a minute the most failures first."""
    return list(session.scalars(select(AuthFailure).where(AuthFailure.minute >= since)
                                .order_by(AuthFailure.minute.desc(), AuthFailure.failures.desc()).limit(limit)))


def prune(session: Session, cutoff: datetime) -> int:
    """Delete the counts of minutes before `cutoff`; how many."""
    return session.execute(delete(AuthFailure).where(AuthFailure.minute < cutoff)).rowcount
