"""Which database errors mean "unavailable": unreachable, busy or too slow, not a wrong request or a bug."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite's answers for a database locked by another writer past the busy timeout, or a file that cannot be opened.
_SQLITE_UNAVAILABLE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN})


def unavailable(error: BaseException) -> bool:
    """Whether the same request may succeed if sent again later: the connection was refused, timed out, lost or
    terminated, a statement ran past its timeout, a lock was not granted in time, or no pooled connection came free.
    PostgreSQL reports each of these as an OperationalError (psycopg's classes for them derive from it)."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, sqlite3.Error):
        return (original.sqlite_errorcode & 0xFF) in _SQLITE_UNAVAILABLE
    return isinstance(original, psycopg.OperationalError)
