"""Statements compiled once per dialect and run on the driver's cursor, in the caller's transaction.

SQLAlchemy's execution path (Session → Connection → execution context → Result) costs many times what the driver's
own execute costs, and a request that runs two or three short statements spends much of its time there. So the few
statements every SCIM request runs (token lookup, user read and write, event insert) are compiled once per dialect
and run here on the DBAPI connection of the caller's Session or Connection, with what SQLAlchemy itself
would do around them: the types' bind and result processors (JSON, datetimes on SQLite), driver errors wrapped as
SQLAlchemy's (an IntegrityError stays one), a dropped connection invalidated so the pool replaces it. A read on a
reading Connection (storage.connections) whose database connection turns out dead (a terminated backend, a restart)
is run once more on a new connection: nothing was written, and the request need not fail. The first statement of
every SCIM request is such a read (the token lookup), so that is where a kept connection is found dead.

What this does not do, and refuses at compile time rather than get wrong: expanding IN parameters and column
defaults computed at execution (an INSERT or UPDATE must be given every value it writes).
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Executable

from storage.connections import READING, connection_of, is_reading, read_again

log = logging.getLogger(__name__)

Processor = Callable[[Any], Any]


class _Compiled:
    """One statement's SQL for one dialect and set of written columns, with its parameter and row handling."""

    def __init__(self, statement: Executable, dialect: Dialect, keys: Sequence[str] | None, custom_plan: bool) -> None:
        compiled = statement.compile(dialect=_compiling(dialect), column_keys=list(keys) if keys is not None else None)
        # psycopg prepares a statement run five times, and PostgreSQL may then plan it once for any parameters.
        self.options = {"prepare": False} if custom_plan and dialect.name == "postgresql" else {}
        if any(bind.expanding or bind.literal_execute for bind in compiled.binds.values()):
            raise ValueError("prepared statements take no expanding or literal-execute parameters")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("a prepared INSERT or UPDATE must be given every column it writes (no Python defaults)")
        self.sql = compiled.string
        # Runs again on a new connection if its own was lost: no INSERT, UPDATE or DELETE in it, a CTE's included.
        self.reads = not any(isinstance(element, UpdateBase) for element in visitors.iterate(statement))
        escaped = compiled.escaped_bind_names
        # Bound values fixed in the statement (a literal in a WHERE clause), by the name the driver sees.
        self.fixed = {escaped.get(name, name): bind.effective_value
                      for name, bind in compiled.binds.items() if not bind.required}
        self.processors: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[escaped.get(name, name)] = processor
        self.order = [escaped.get(name, name) for name in compiled.positiontup] if compiled.positional else None
        columns = statement.exported_columns  # a SELECT's columns, or what an INSERT, UPDATE or DELETE RETURNS
        # Rows are named tuples: by position, or by column name as SQLAlchemy's Row (row.id, row.doc).
        self.row_type = collections.namedtuple("Row", [column.key or f"_{i}" for i, column in enumerate(columns)],
                                               rename=True)
        self.results: list[tuple[int, Processor]] = []
        for position, column in enumerate(columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                self.results.append((position, processor))

    def arguments(self, params: Mapping[str, Any]) -> Any:
        values = {**self.fixed, **params} if self.fixed else dict(params)
        for name, processor in self.processors.items():
            if name in values:
                values[name] = processor(values[name])
        return tuple(values[name] for name in self.order) if self.order is not None else values

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return self.row_type._make(raw)
        row = list(raw)
        for position, processor in self.results:
            row[position] = processor(row[position])
        return self.row_type._make(row)


class Prepared:
    """A Core statement to run on the request path; see the module docstring."""

    def __init__(self, statement: Executable, *, custom_plan: bool = False) -> None:
        """`custom_plan`: PostgreSQL plans the statement for its parameters' values on every run, never once for any
        values (a generic plan): for a statement whose best plan depends on them, such as which index serves a
        group's members, the whole group or the few ids named."""
        self.statement = statement
        self._custom_plan = custom_plan
        self._writes_columns = isinstance(statement, UpdateBase)
        self._compiled: dict[tuple[str, tuple[str, ...] | None], _Compiled] = {}

    def bound_values(self, dialect: Dialect) -> Mapping[str, Any]:
        """The values the statement binds itself (its literals), by the names parameters are given under."""
        return self._compile(dialect, None).fixed

    def first(self, executor: Session | Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        connection, compiled = self._prepare(executor, params)
        row = _run(connection, [(compiled, compiled.arguments(params))], lambda cursor: cursor.fetchone())
        return None if row is None else compiled.row(row)

    def all(self, executor: Session | Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        connection, compiled = self._prepare(executor, params)
        rows = _run(connection, [(compiled, compiled.arguments(params))], lambda cursor: cursor.fetchall())
        return [compiled.row(row) for row in rows]

    def run(self, executor: Session | Connection, params: Mapping[str, Any]) -> int:
        """Execute a statement that returns no rows; its row count."""
        connection, compiled = self._prepare(executor, params)
        return _run(connection, [(compiled, compiled.arguments(params))], lambda cursor: cursor.rowcount)

    def run_many(self, executor: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row (the driver's executemany; a plain execute for one row, which psycopg runs without
        its pipeline); every row has the first row's keys."""
        if len(rows) == 1:
            self.run(executor, rows[0])
        elif rows:
            connection, compiled = self._prepare(executor, rows[0])
            _run(connection, [(compiled, [compiled.arguments(row) for row in rows])], lambda _cursor: None, many=True)

    def after(self, executor: Session | Connection, before: Sequence[tuple[Prepared, Mapping[str, Any]]],
              params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """PostgreSQL: run the statements `before` (each with its parameters), then this one, in one round trip
        (psycopg's pipeline mode), and return this statement's rows. On a Connection outside a transaction
        (autocommit) they are one transaction, committed after this one, or rolled back if any fails; each still
        takes its own snapshot (READ COMMITTED), so this one sees what was committed while an earlier one waited for
        a lock: take a row lock before, and this statement reads and writes under it."""
        steps = []
        for statement, statement_params in (*before, (self, params)):
            connection, compiled = statement._prepare(executor, statement_params)
            steps.append((compiled, compiled.arguments(statement_params)))
        compiled = steps[-1][0]
        return [compiled.row(row) for row in _run(connection, steps, lambda cursor: cursor.fetchall())]

    def _prepare(self, executor: Session | Connection, params: Mapping[str, Any]) -> tuple[Connection, _Compiled]:
        connection = connection_of(executor)
        if connection.invalidated and is_reading(connection):
            read_again(connection)  # a statement failed on it (the request's 503 is being logged): a new one, reading
        if not connection.in_transaction() and not connection.get_execution_options().get(READING):
            connection.begin()  # as Connection.execute would (autobegin; storage/db.py issues SQLite's BEGIN)
        return connection, self._compile(connection.dialect, tuple(params) if self._writes_columns else None)

    def _compile(self, dialect: Dialect, keys: tuple[str, ...] | None) -> _Compiled:
        compiled = self._compiled.get((dialect.name, keys))
        if compiled is None:
            compiled = self._compiled[dialect.name, keys] = _Compiled(self.statement, dialect, keys, self._custom_plan)
        return compiled


@functools.cache
def _compiling(dialect: Dialect) -> Dialect:
    """The dialect a statement is compiled with: PostgreSQL's with PostgreSQL's own `$1` placeholders, run by
    psycopg's RawCursor as they are. psycopg converts a `%(name)s` query for each execution, and caches the
    conversion only for a query under 4 KiB: a group PATCH's statement (storage.group_patch) is longer, and would be
    converted again on every request."""
    if dialect.name != "postgresql":
        return dialect
    return type(dialect)(paramstyle="numeric_dollar")


# PostgreSQL: one psycopg cursor kept on each driver connection (an attribute: the two go together). A new cursor
# looks up every type's dumper and loader again, a noticeable part of a short statement; psycopg's cursors hold
# nothing on the server, and a kept one keeps only the last result, in memory. SQLite's are made anew: one left on a
# SELECT not read to its end would hold that read's snapshot open.
_KEPT_CURSOR = "scim_cursor"


def _cursor(driver_connection: Any, dialect: Dialect) -> tuple[Any, bool]:
    """A cursor to run on, and whether it is a kept one (not to be closed)."""
    if dialect.name != "postgresql":
        return driver_connection.cursor(), False
    cursor = getattr(driver_connection, _KEPT_CURSOR, None)
    if cursor is None or cursor.closed:
        cursor = psycopg.RawCursor(driver_connection)  # `$1` placeholders: see `_compiling`
        setattr(driver_connection, _KEPT_CURSOR, cursor)
    return cursor, True


def _run(connection: Connection, steps: Sequence[tuple[_Compiled, Any]], fetch: Callable[[Any], Any], *,
         many: bool = False) -> Any:
    """`_execute`, and once more on a new connection when the database dropped this one under a read outside a
    transaction: a statement that reads only, on a Connection that autocommits (or never began), changed nothing
    anywhere, so running it again is what the request would have done on a live connection."""
    try:
        return _execute(connection, steps, fetch, many=many)
    except DBAPIError as error:
        rerunnable = is_reading(connection) and all(compiled.reads for compiled, _arguments in steps)
        if not (error.connection_invalidated and rerunnable):
            raise
        log.warning("the database dropped a connection under a read; reading again on a new one: %s", error.orig)
    read_again(connection)
    return _execute(connection, steps, fetch, many=many)


def _execute(connection: Connection, steps: Sequence[tuple[_Compiled, Any]], fetch: Callable[[Any], Any], *,
             many: bool = False) -> Any:
    """The driver's execute (or executemany) of each statement and its arguments in turn, in one pipeline when
    there are several (`Prepared.after`), seen by the engine's cursor-execute listeners as SQLAlchemy's own would be
    (with no execution context), so statement logging and counting keep working; an error as SQLAlchemy's. `fetch`
    reads the last statement's result."""
    cursor, kept = None, False
    compiled, arguments = steps[0]
    try:
        driver_connection = connection.connection.driver_connection
        cursor, kept = _cursor(driver_connection, connection.dialect)
        dispatch = connection.dispatch
        with driver_connection.pipeline() if len(steps) > 1 else nullcontext() as pipeline:
            for compiled, arguments in steps:
                if dispatch.before_cursor_execute:
                    dispatch.before_cursor_execute(connection, cursor, compiled.sql, arguments, None, many)
                if many:
                    cursor.executemany(compiled.sql, arguments)
                else:
                    cursor.execute(compiled.sql, arguments, **compiled.options)
                if dispatch.after_cursor_execute:
                    dispatch.after_cursor_execute(connection, cursor, compiled.sql, arguments, None, many)
            if pipeline is not None:
                # Every result in before reading the last: without it, a server notice among three results (a LOG
                # of auto_explain) made psycopg's fetch return the first statement's rows now and then.
                pipeline.sync()
            return fetch(cursor)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, compiled, arguments, error, cursor) from error
    finally:
        if cursor is not None and not kept:
            cursor.close()


def _wrapped(connection: Connection, compiled: _Compiled, arguments: Any, error: Exception, cursor: Any) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it; a connection the database dropped is invalidated first."""
    dialect = connection.dialect
    disconnect = dialect.is_disconnect(error, connection.connection.driver_connection, cursor)
    if disconnect:
        connection.invalidate(error)
    return DBAPIError.instance(compiled.sql, arguments, error, dialect.loaded_dbapi.Error,
                               connection_invalidated=disconnect, dialect=dialect)
