"""The states of a Connection on the request path: reading outside a transaction, or in a writing transaction.

A request's Connection reads first (`start_reading`): each statement sees what is committed when it runs, with no
BEGIN or ROLLBACK to pay for. A store's write turns it into a writer (`writing`) only once its input is parsed, so
authentication and parsing never hold SQLite's single write lock; `commit` ends the write and reads again. On
PostgreSQL a reading Connection autocommits, so a write that is one statement commits as it runs (`autocommits`).
"""

from __future__ import annotations

from sqlalchemy import Connection, NestedTransaction
from sqlalchemy.orm import Session

# Execution option a writer sets so that SQLite takes the write lock at BEGIN: a deferred transaction that later
# writes can fail with SQLITE_BUSY instead of waiting for busy_timeout.
IMMEDIATE = "scim_begin_immediate"
# Execution option of a reading Connection: no transaction, each statement reads what is committed when it runs
# (SQLite: no BEGIN, the driver autocommits; PostgreSQL: autocommit).
READING = "scim_reading"


def dialect(executor: Session | Connection) -> str:
    """The database a Session or Connection talks to: "sqlite" or "postgresql"."""
    return executor.dialect.name if isinstance(executor, Connection) else executor.get_bind().dialect.name


def connection_of(executor: Session | Connection) -> Connection:
    """The Connection a Session's transaction runs on (begun if need be), or the Connection itself."""
    return executor.connection() if isinstance(executor, Session) else executor


def is_reading(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get(READING))


def autocommits(connection: Connection) -> bool:
    """Whether each statement on `connection` is a transaction of its own, committed as it runs: PostgreSQL's
    reading Connection. On SQLite a reading Connection never writes: its writer queues first."""
    return connection.dialect.name == "postgresql" and is_reading(connection)


def start_reading(connection: Connection) -> None:
    """Read from here on, outside a transaction. A Connection already reading is left as it is: setting execution
    options runs SQLAlchemy's listeners."""
    if is_reading(connection):
        return
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT", **{READING: True})
    else:
        connection.execution_options(**{IMMEDIATE: False, READING: True})


def read_again(connection: Connection) -> None:
    """A reading Connection whose database connection was lost (invalidated) reads on a new one from the pool: what
    SQLAlchemy began on the lost one is ended, and PostgreSQL's autocommit is set on the new one (its next use
    reconnects anyway)."""
    if connection.in_transaction():
        connection.rollback()
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT")  # reconnects: the option applies to the new one


def writing(connection: Connection) -> Connection:
    """`connection` in a writing transaction: a reading one starts one (SQLite: BEGIN IMMEDIATE behind the writer
    queue of storage/db.py; PostgreSQL: out of autocommit), one already writing (a Bulk request's) goes on."""
    if not is_reading(connection):
        return connection
    if connection.in_transaction():
        connection.rollback()
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level=connection.default_isolation_level, **{READING: False})
    else:
        connection.execution_options(**{IMMEDIATE: True, READING: False})
    connection.begin()
    return connection


def commit(connection: Connection) -> None:
    """Commit the write under way, if any (a write that autocommitted has none), and read again."""
    if is_reading(connection):
        return
    connection.commit()
    start_reading(connection)


def savepoint(connection: Connection) -> NestedTransaction:
    """One write among several in a writing transaction (a Bulk operation): as a context manager, rolled back alone
    if it fails, its staged events with it."""
    return writing(connection).begin_nested()
