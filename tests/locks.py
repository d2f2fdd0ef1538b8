"""Seeing that a writer waits for a lock, instead of guessing it from the time it has not finished in.

A check such as "not done after 0.5 s" passes on a loaded machine whether or not the writer waits (it may not have
reached the lock yet). These helpers look at the lock itself: Linux lists a flock request that waits in /proc/locks
(marked `->`), PostgreSQL lists a backend that waits for a lock in pg_stat_activity.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from storage.db import WRITER_LOCK_SUFFIX

WAIT_SECONDS = 60  # for the waiter to reach the lock: seconds on a loaded machine, never a minute
_POLL_SECONDS = 0.01


def wait_until_blocked(engine: Engine, finished: threading.Event, what: str = "the second writer") -> None:
    """Return once a connection to `engine`'s database waits for a lock: on SQLite for the writer queue's flock, on
    PostgreSQL for any lock. Fail if `finished` is set first: `what` went on without waiting."""
    blocked = _waits_for_flock if engine.dialect.name == "sqlite" else _waits_for_postgresql_lock
    deadline = time.monotonic() + WAIT_SECONDS
    while not blocked(engine):
        assert not finished.is_set(), f"{what} finished without waiting for the lock"
        assert time.monotonic() < deadline, f"{what} did not wait for the lock within {WAIT_SECONDS} s"
        time.sleep(_POLL_SECONDS)
    assert not finished.is_set(), f"{what} finished while the lock was held"


def _waits_for_flock(engine: Engine) -> bool:
    """Whether a flock request on the writer queue's file waits (a /proc/locks line: `N: -> FLOCK … maj:min:inode`)."""
    lock = Path(f"{engine.url.database}{WRITER_LOCK_SUFFIX}")
    if not lock.exists():
        return False
    stat = lock.stat()
    file_id = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any(fields[1] == "->" and fields[2] == "FLOCK" and fields[6] == file_id
               for fields in (line.split() for line in Path("/proc/locks").read_text().splitlines()))


def _waits_for_postgresql_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar_one())
