"""Failed SCIM authentication: limited per client address, and recorded in aggregate rather than as events.

Each failure is counted in storage.auth_failures, one row per client address (after ProxyFix, see SCIM_TRUST_PROXY)
and minute, in the database: every worker of a server, and every server on the same database, adds to the same
count. Past SCIM_AUTH_FAILURES_PER_MINUTE failures in a minute, the address's further failures get 429 with
Retry-After (the seconds left in the minute) instead of 401. A request whose token is good is never refused, whatever
its address (IdPs send from shared addresses), and costs nothing here: only a failed token lookup comes here.

Over the limit, a worker stops writing every failure: it counts them in memory and adds them to the address's row
at most every FLUSH_SECONDS (and, for the rest of a minute, when the address next fails), so a flood costs each
worker a few writes a minute. The row's count is exact up to the limit, and behind by at most what a worker saw since
its last write after that.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from app import database
from scim.errors import ScimError, TooManyRequests, Unauthorized
from storage import auth_failures

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
# Addresses over the limit this worker remembers; past it, those of earlier minutes are forgotten (with what they
# had not written yet).
TRACKED = 1000
_KNOWN = "scim.auth_failures"


@dataclass
class _Over:
    """An address over the limit in `minute`, as this worker knows it."""

    minute: int
    unwritten: int = 0
    written_at: float = 0.0


@dataclass
class _Known:
    """The addresses this worker knows to be over the limit, for one app."""

    over: dict[str, _Over] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def refusal() -> ScimError:
    """The answer to a failed authentication, counted: 401, or 429 past the address's limit for the minute."""
    known = current_app.extensions.get(_KNOWN) or current_app.extensions.setdefault(_KNOWN, _Known())
    now = time.time()
    minute = int(now // 60)
    address = request.remote_addr or "unknown"
    retry_after = 60 - int(now) % 60
    unwritten = 0
    with known.lock:
        over = known.over.pop(address, None)
        blocked = over is not None and over.minute == minute
        if blocked:
            known.over[address] = over
            over.unwritten += 1
            if now - over.written_at >= FLUSH_SECONDS:
                unwritten, over.unwritten, over.written_at = over.unwritten, 0, now
        elif over is not None:
            unwritten = over.unwritten  # a past minute's: it goes to that minute's row
    if blocked:
        if unwritten:
            _add(address, minute, unwritten)
        return _too_many(retry_after)
    if unwritten:
        _add(address, over.minute, unwritten)
    failures = _add(address, minute, 1)
    if failures is None or failures <= int(current_app.config["AUTH_FAILURES_PER_MINUTE"]):
        return Unauthorized()
    with known.lock:
        if len(known.over) >= TRACKED:
            for stale in [key for key, value in known.over.items() if value.minute != minute]:
                del known.over[stale]
        known.over[address] = _Over(minute, written_at=now)
    return _too_many(retry_after)


def _too_many(retry_after: int) -> TooManyRequests:
    return TooManyRequests(retry_after, "Too many failed authentications from this address: try again later.")


def _add(address: str, minute: int, failures: int) -> int | None:
    """The address's count for the minute after adding `failures`; None if it could not be written (logged: the
    client still gets its 401)."""
    try:
        return auth_failures.add(database.connection(), address, datetime.fromtimestamp(minute * 60, UTC), failures)
    except SQLAlchemyError:
        log.warning("could not count a failed authentication from %s", address, exc_info=True)
        return None
