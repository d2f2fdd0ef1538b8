"""The Python functions SQLite connections need for searches (SQLite lacks them); PostgreSQL has its own.

This module imports nothing of `storage`, so that `storage.db` can register the functions on every connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Add the functions the queries use to a SQLite connection; call it from the engine's "connect" event.

    `scim_lower` is Python's `str.lower` (SQLite's lower() folds ASCII only); `scim_instant` normalises an RFC 3339
    dateTime to UTC text that sorts as the instant does.
    """
    dbapi_connection.create_function("scim_lower", 1, _python_lower, deterministic=True)
    dbapi_connection.create_function("scim_instant", 1, _instant_text, deterministic=True)


def utc_text(moment: datetime) -> str:
    """An aware datetime as `scim_instant` writes it: fixed-width UTC text, without offset."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _python_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _instant_text(value: Any) -> str | None:
    """A dateTime string as fixed-width UTC text (an offset-less one is UTC), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (ValueError, OverflowError):  # an exception here would fail the whole query: the value is no instant
        return None
