"""Engines tuned per database, the session factory, and the request path's kept reading Connections.

Every engine made here has the activity log's listeners (storage.events.listen). SQLite has one writer at a time. A
writer starts with BEGIN IMMEDIATE, and a second one waits in SQLite's busy handler, which sleeps and polls, so a
waiting writer sleeps past the moment the lock frees. So a writer first queues on an exclusive `flock` of a file
beside the database (`<db>-writer.lock`), which the kernel hands to the next process the moment the current writer
commits or rolls back; BEGIN IMMEDIATE then finds SQLite's lock free. The flock only orders this server's writers:
SQLite's own lock and busy_timeout still guard the data, against the CLI or any other process too.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from scim.encoding import dumps
from storage import events
from storage.connections import IMMEDIATE, READING, dialect, start_reading
from storage.sqlite_functions import register_sqlite_functions

log = logging.getLogger(__name__)

# SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages, under the write lock and
# the writer queue, and again in every COMMIT until the log can start over: its copy and fsyncs would stall every
# writer. So the server's connections turn it off and checkpoint in two steps every CHECKPOINT_EVERY queued commits of
# a process: the bulk (PASSIVE) on a thread of its own, started once a COMMIT has released the queue, while every
# writer goes on, then the tail (PASSIVE again, short) inside the next queued COMMIT, before the queue is released: no
# commit can land meanwhile, so the whole log is copied back (unless a reader is still on old pages) and the next
# writer starts the log over from its beginning. A checkpoint without the tail races the commits, never catches up,
# and lets the WAL grow without bound. SQLite still checkpoints when the last connection closes, and any other
# process (the sqlite3 CLI) keeps its own default.
CHECKPOINT_EVERY = 200
# Reads through a memory map of the database file (up to this much of it) instead of a read() per page: the pages
# are the OS page cache's, shared by the workers, not copied into each connection's cache.
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
WRITER_LOCK_SUFFIX = "-writer.lock"  # the writer queue's file, beside the database

# The lock files this thread holds: a second writer connection in the same thread must not queue behind the first
# (it would wait for itself forever); it goes straight to BEGIN IMMEDIATE and SQLite's busy_timeout, as without queue.
_held = threading.local()


def _held_paths() -> set[str]:
    if not hasattr(_held, "paths"):
        _held.paths = set()
    return _held.paths


def _passive_checkpoint(connection: sqlite3.Connection) -> None:
    """Copy what no reader still needs from the log back into the database file, waiting for no one."""
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error:  # the commits stand; the next checkpoint (or the last connection's close) catches up
        log.warning("SQLite WAL checkpoint failed", exc_info=True)


@dataclass
class _Checkpointing:
    """One database's checkpoints in this process, across the connections of its pool: the bulk on a thread of its
    own (one per process, started at the first bulk: a forked worker starts its own), the tail in a COMMIT."""

    database: str
    commits: int = 0  # queued writes committed since the last bulk checkpoint
    tail_due: bool = False  # the next queued COMMIT finishes that checkpoint before releasing the queue
    _wake: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _pid: int | None = None

    def committed(self) -> None:
        """A queued write committed (and released the queue): every CHECKPOINT_EVERY, wake the bulk checkpoint."""
        self.commits += 1
        if self.commits >= CHECKPOINT_EVERY:
            self.commits = 0
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid, self._wake = os.getpid(), threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._wake,), name="sqlite-checkpoint",
                                                daemon=True)
                self._thread.start()
            self._wake.set()

    def _run(self, wake: threading.Event) -> None:
        connection = sqlite3.connect(self.database, timeout=30, isolation_level=None, check_same_thread=False)
        while True:
            wake.wait()
            wake.clear()
            _passive_checkpoint(connection)  # sqlite3 lets go of the GIL: the worker's requests go on meanwhile
            self.tail_due = True


_checkpointing: dict[str, _Checkpointing] = {}  # by writer lock path


class _SQLiteConnection(sqlite3.Connection):
    """A DBAPI connection that holds the writer queue's flock from BEGIN IMMEDIATE to COMMIT or ROLLBACK."""

    writer_lock: str | None = None  # the lock file's path; None: in-memory database, no queue
    checkpointing: _Checkpointing | None = None  # shared by this process's connections to the database
    _lock_fd: int | None = None

    def begin_immediate(self) -> None:
        held = _held_paths()
        if self.writer_lock is not None and self._lock_fd is None and self.writer_lock not in held:
            fd = os.open(self.writer_lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits in the kernel: woken when the writer before us is done
            self._lock_fd = fd
            held.add(self.writer_lock)
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        queued = self._lock_fd is not None  # a write that held the queue; a reader's or the CLI's ends here too
        try:
            super().commit()
            if queued and self.checkpointing.tail_due:
                self.checkpointing.tail_due = False
                _passive_checkpoint(self)  # what landed since the bulk, while no other commit can land
        finally:
            self._release()
        if queued:
            self.checkpointing.committed()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            _held_paths().discard(self.writer_lock)
            os.close(fd)  # closing the descriptor drops its flock


# Defaults of the timeouts `make_engine` sets (the server's SCIM_DB_CONNECT_TIMEOUT and SCIM_DB_STATEMENT_TIMEOUT): a
# database that does not answer is an error the client can retry (a 503), well before gunicorn's 60 s worker timeout
# or an IdP's own gives up on the request.
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_SECONDS = 20


def make_engine(url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                statement_timeout: float = STATEMENT_TIMEOUT_SECONDS, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite turn on foreign keys, WAL, synchronous=NORMAL, a busy timeout and the writer
    queue; on PostgreSQL a connection pool whose idle connections are checked before use. `connect_timeout` bounds
    opening a PostgreSQL connection; `statement_timeout` bounds a PostgreSQL statement (and the time unacknowledged
    data may stay on its socket) and SQLite's wait for the write lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": statement_timeout, "check_same_thread": False,
                                                  "factory": _SQLiteConnection}, json_serializer=dumps, **kwargs)
        database = parsed.database
        in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
        _tune_sqlite(engine, None if in_memory else os.path.abspath(database) + WRITER_LOCK_SUFFIX,
                     busy_milliseconds=round(statement_timeout * 1000))
        events.listen(engine)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("connect_args", _postgresql_timeouts(parsed.query.get("options"), connect_timeout,
                                                           statement_timeout))
    engine = create_engine(url, json_serializer=dumps, **kwargs)
    _ping_idle_connections(engine)
    events.listen(engine)
    return engine


def _postgresql_timeouts(options: str | tuple[str, ...] | None, connect_timeout: float,
                         statement_timeout: float) -> dict[str, Any]:
    """libpq's settings for them. `statement_timeout` is the server's, which a dropped network never lets fire: the
    kernel's `tcp_user_timeout` ends a connection whose sent data stays unacknowledged that long. libpq waits at
    least 2 s to connect; 0 would mean forever. The URL's own `options` are kept."""
    milliseconds = max(1, round(statement_timeout * 1000))
    given = " ".join(options) if isinstance(options, tuple) else options or ""
    return {"connect_timeout": max(2, math.ceil(connect_timeout)),
            "options": f"{given} -c statement_timeout={milliseconds}".strip(),
            "tcp_user_timeout": milliseconds}


# A pooled connection unused for this long is pinged at checkout before a request gets it.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling, but only for connections that sat idle: `pool_pre_ping` pays a round trip on
    every checkout (on PostgreSQL, one more round trip on every request), while a connection a busy worker used a moment
    ago is alive. An idle one (after a quiet spell, a database restart or failover) is pinged; a dead one is
    replaced before the request sees it (SQLAlchemy's "custom ping on checkout" recipe)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["scim_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("scim_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            _ping(dbapi_connection)
        except Exception as error:  # the pool retries the checkout with a new connection
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error


def _ping(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
    dbapi_connection.rollback()


def _tune_sqlite(engine: Engine, writer_lock: str | None, *, busy_milliseconds: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: _SQLiteConnection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own handling defers it).
        dbapi_connection.isolation_level = None
        dbapi_connection.writer_lock = writer_lock
        if writer_lock is not None:
            dbapi_connection.checkpointing = _checkpointing.setdefault(
                writer_lock, _Checkpointing(writer_lock.removesuffix(WRITER_LOCK_SUFFIX)))
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_milliseconds}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        if writer_lock is not None:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see CHECKPOINT_EVERY
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Straight to the driver: BEGIN runs on every request, and SQLAlchemy's statement path costs more than it.
        options = connection.get_execution_options()
        if options.get(READING):
            return
        dbapi_connection: _SQLiteConnection = connection.connection.driver_connection
        immediate = options.get(IMMEDIATE, False)
        try:
            dbapi_connection.begin_immediate() if immediate else dbapi_connection.execute("BEGIN")
        except sqlite3.Error as error:  # as SQLAlchemy would have wrapped it (e.g. "database is locked")
            raise DBAPIError.instance("BEGIN", None, error, sqlite3.Error) from error


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, as a web request reads them after committing."""
    return sessionmaker(engine, expire_on_commit=False)


def begin_read(session: Session) -> None:
    """Start the session as a reader. PostgreSQL reads in autocommit: at READ COMMITTED each statement takes its own
    snapshot anyway, so a read transaction would only add BEGIN and ROLLBACK round trips. SQLite reads in a deferred
    transaction, one snapshot for the request. A writer starts over with `begin_write` (the pool restores the
    connection's isolation level when it takes it back)."""
    if dialect(session) == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


class Readers:
    """Reading Connections kept between requests: taking one from the pool, its Connection object and checking it
    back in is work every request would repeat. `take()` gives a Connection that reads outside a transaction
    (`start_reading`); `put_back()` rolls back what the request left (a writer that never committed: its lock and
    staged events go with it) and keeps the Connection for the next request. One kept for PING_AFTER_IDLE_SECONDS
    is pinged before it is handed out, as the pool pings one at checkout; the engine's dispose() returns them all to
    the pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._idle: list[tuple[Connection, float]] = []  # (connection, kept since); list.pop/append are thread-safe
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def take(self) -> Connection:
        while self._idle:
            try:
                connection, since = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if time.monotonic() - since < PING_AFTER_IDLE_SECONDS or self._answers(connection):
                return connection
        connection = self._engine.connect()
        start_reading(connection)
        return connection

    def put_back(self, connection: Connection) -> None:
        if connection.closed or connection.invalidated:
            connection.close()
            return
        try:
            if connection.in_transaction():
                connection.rollback()
            start_reading(connection)
        except Exception:  # the request's response stands; the pool drops this connection
            log.warning("a reading connection failed to end its transaction", exc_info=True)
            connection.invalidate()
            connection.close()
            return
        self._idle.append((connection, time.monotonic()))

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()

    @staticmethod
    def _answers(connection: Connection) -> bool:
        try:
            _ping(connection.connection.driver_connection)
        except Exception:  # a restart or failover ended it: a new connection replaces it
            connection.invalidate()
            connection.close()
            return False
        return True


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE; PostgreSQL: no difference)."""
    session.connection(execution_options={IMMEDIATE: True})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short writing transaction on a connection of its own, committed on exit."""
    with engine.connect().execution_options(**{IMMEDIATE: True}) as connection, connection.begin():
        yield connection
