"""Prepared statements (storage/prepared.py): what SQLAlchemy's own execution gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, bindparam, func, insert, literal, literal_column, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import events  # noqa: F401 (its connection listeners must cope with a dropped connection)
from storage.db import make_engine, make_sessionmaker
from storage.models import Tenant, tenants_table, tokens_table, users_table
from storage.prepared import Prepared
from tests.conftest import reading
from tests.locks import WAIT_SECONDS

_USER = select(users_table.c.id, users_table.c.doc, users_table.c.created, users_table.c.active).where(
    users_table.c.tenant_id == bindparam("tenant_id"), users_table.c.id == bindparam("user_id")
)


def _tenant(engine: Engine) -> int:
    with make_sessionmaker(engine).begin() as session:
        tenant = Tenant(name="prepared")
        session.add(tenant)
        session.flush()
        return tenant.id


def _user(tenant_id: int, user_id: str, name: str) -> dict[str, object]:
    created = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    return {"id": user_id, "tenant_id": tenant_id, "user_name": name, "user_name_key": name.lower(),
            "external_id": None, "display_name": None, "active": True, "doc": {"userName": name, "n": [1, "é"]},
            "created": created, "last_modified": created, "version": 1, "password_hash": None}


def test_rows_come_back_as_sqlalchemy_reads_them(engine: Engine) -> None:
    """JSON, datetimes and booleans through the types' processors, equal to SQLAlchemy's own result."""
    tenant_id = _tenant(engine)
    with engine.begin() as connection:
        assert Prepared(insert(users_table)).run(connection, _user(tenant_id, "u1", "Ann")) == 1
    with engine.connect() as connection:
        params = {"tenant_id": tenant_id, "user_id": "u1"}
        row = Prepared(_USER).first(connection, params)
        assert row == tuple(connection.execute(_USER, params).one())
        assert row[1] == {"userName": "Ann", "n": [1, "é"]} and row[3] is True
        assert row[2].replace(tzinfo=UTC) == datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
        assert Prepared(_USER).first(connection, {"tenant_id": tenant_id, "user_id": "nobody"}) is None


def test_rows_a_write_returns_come_back_by_name(engine: Engine) -> None:
    """UPDATE ... RETURNING: the returned columns, through their types' processors, named as the columns."""
    tenant_id = _tenant(engine)
    with engine.begin() as connection:
        Prepared(insert(users_table)).run(connection, _user(tenant_id, "u1", "Ann"))
    bump = Prepared(update(users_table).where(users_table.c.id == bindparam("user_id_"))
                    .values(version=users_table.c.version + 1).returning(users_table.c.version, users_table.c.doc))
    with engine.begin() as connection:
        row = bump.first(connection, {"user_id_": "u1", "active": False})
        assert (row.version, row.doc) == (2, {"userName": "Ann", "n": [1, "é"]})
        assert bump.first(connection, {"user_id_": "nobody", "active": False}) is None
        assert connection.execute(select(users_table.c.active)).scalar_one() is False


def test_a_json_column_keeps_what_the_fast_encoder_refuses(engine: Engine) -> None:
    """Documents go through scim.encoding.dumps: an integer beyond 64 bits (a tenant's integer attribute allows it)
    falls back to the standard library and reads back exact, on both databases."""
    tenant_id = _tenant(engine)
    user = {**_user(tenant_id, "u1", "Ann"), "doc": {"userName": "Ann", "big": 2**70, "é": "ü"}}
    with engine.begin() as connection:
        Prepared(insert(users_table)).run(connection, user)
    with engine.connect() as connection:
        assert Prepared(_USER).first(connection, {"tenant_id": tenant_id, "user_id": "u1"})[1] == user["doc"]


def test_a_session_and_its_connection_share_one_transaction(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    session = make_sessionmaker(engine)()
    Prepared(insert(users_table)).run(session, _user(tenant_id, "u1", "Ann"))
    assert Prepared(_USER).first(session, {"tenant_id": tenant_id, "user_id": "u1"}) is not None
    session.rollback()
    assert Prepared(_USER).first(session, {"tenant_id": tenant_id, "user_id": "u1"}) is None
    session.close()


def test_each_set_of_written_columns_and_fixed_values_is_compiled_right(engine: Engine) -> None:
    tenant_id = _tenant(engine)
    rename = Prepared(update(users_table).where(users_table.c.id == bindparam("user_id_")))
    named = Prepared(select(users_table.c.user_name, literal("fixed")).where(users_table.c.id == bindparam("user_id")))
    with engine.begin() as connection:
        rows = [_user(tenant_id, "u1", "Ann"), _user(tenant_id, "u2", "Bo")]
        Prepared(insert(users_table)).run_many(connection, rows)
        assert rename.run(connection, {"user_name": "Anna", "user_id_": "u1"}) == 1
        assert rename.run(connection, {"display_name": "B", "version": 2, "user_id_": "u2"}) == 1
        assert rename.run(connection, {"user_name": "Nobody", "user_id_": "u3"}) == 0
        assert named.first(connection, {"user_id": "u1"}) == ("Anna", "fixed")
        assert connection.execute(select(users_table.c.display_name, users_table.c.version)
                                  .where(users_table.c.id == "u2")).one() == ("B", 2)


def test_driver_errors_are_sqlalchemy_errors(engine: Engine) -> None:
    """A duplicate key is an IntegrityError, as code written against SQLAlchemy expects; the write is not there, and
    the connection's next statements run (on PostgreSQL on the same kept cursor as the failed ones)."""
    tenant_id = _tenant(engine)
    add = Prepared(insert(users_table))
    with engine.begin() as connection:
        add.run(connection, _user(tenant_id, "u1", "Ann"))
    with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            add.run(connection, _user(tenant_id, "u2", "ann"))  # user_name_key is unique per tenant
        connection.rollback()
        with pytest.raises(IntegrityError):
            add.run_many(connection, [_user(tenant_id, "u3", "Cy"), _user(tenant_id, "u3", "Di")])
        connection.rollback()
        assert Prepared(select(func.count()).select_from(users_table)).first(connection, {}) == (1,)


def test_a_result_left_unread_does_not_disturb_the_next_statement(engine: Engine) -> None:
    """`first` reads one row of many; the next statement on the connection gets its own rows."""
    tenant_id = _tenant(engine)
    with engine.begin() as connection:
        Prepared(insert(users_table)).run_many(connection, [_user(tenant_id, f"u{n}", f"U{n}") for n in range(5)])
    names = Prepared(select(users_table.c.user_name).order_by(users_table.c.id))
    one = Prepared(select(users_table.c.user_name).where(users_table.c.id == bindparam("user_id")))
    with engine.connect() as connection:
        assert names.first(connection, {}) == ("U0",)
        assert one.first(connection, {"user_id": "u3"}) == ("U3",)
        assert names.all(connection, {})[-1] == ("U4",)


def test_what_it_cannot_run_faithfully_is_refused(engine: Engine) -> None:
    with engine.connect() as connection:
        with pytest.raises(ValueError, match="expanding"):
            Prepared(select(tenants_table.c.id).where(tenants_table.c.id.in_(bindparam("ids", expanding=True)))).all(
                connection, {"ids": [1]})
        with pytest.raises(ValueError, match="every column"):  # tokens.created_at has a Python-side default
            Prepared(insert(tokens_table)).run(connection, {"id": "t", "tenant_id": 1, "prefix": "p",
                                                            "secret_hash": "h"})


def terminate(connection: Connection, admin: Engine) -> int:
    """End `connection`'s backend with pg_terminate_backend and wait until it is gone; its pid."""
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with admin.begin() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    deadline = time.monotonic() + WAIT_SECONDS  # the backend exits on its own time after the signal
    while True:
        with admin.connect() as other:
            if not other.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).all():
                return pid
        assert time.monotonic() < deadline, f"backend {pid} still runs {WAIT_SECONDS} s after its end"
        time.sleep(0.05)


def test_a_connection_postgresql_dropped_is_invalidated(postgres_database: str) -> None:
    engine, admin = make_engine(postgres_database, pool_size=1, max_overflow=0), make_engine(postgres_database)
    try:
        with engine.connect() as connection:
            pid = terminate(connection, admin)  # in the transaction its query began: not a reading Connection
            with pytest.raises(DBAPIError) as raised:
                Prepared(select(tenants_table.c.id)).all(connection, {})
            assert raised.value.connection_invalidated
        with engine.connect() as connection:  # the pool opened a new one
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        admin.dispose()


def test_a_read_outside_a_transaction_on_a_terminated_backend_is_read_again(pg_engine: Engine) -> None:
    """A read on a reading Connection changed nothing: where the database ended the connection under it (a restart,
    pg_terminate_backend), it runs on a new one, which reads outside a transaction too."""
    tenant_id = _tenant(pg_engine)
    with reading(pg_engine) as connection:
        ended = terminate(connection, pg_engine)
        assert Prepared(select(tenants_table.c.id)).all(connection, {}) == [(tenant_id,)]
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != ended
        assert connection.connection.dbapi_connection.autocommit is True


def test_a_write_on_a_terminated_backend_is_not_run_again(pg_engine: Engine) -> None:
    """A write may have reached the database before it ended the connection: it fails (the client gets a 503 and
    retries), and the Connection reads outside a transaction again on a new connection."""
    with reading(pg_engine) as connection:
        terminate(connection, pg_engine)
        new_tenant = {"name": "after", "created_at": datetime.now(UTC), "schemas_version": 0}
        with pytest.raises(DBAPIError) as raised:
            Prepared(insert(tenants_table)).run(connection, new_tenant)
        assert raised.value.connection_invalidated
        assert Prepared(select(tenants_table.c.name)).all(connection, {}) == []
        assert connection.connection.dbapi_connection.autocommit is True


def test_a_statement_after_another_is_one_transaction_with_it(pg_engine: Engine) -> None:
    """`after`: two statements in one round trip, committed together on an autocommitting Connection, or neither."""
    tenant_id = _tenant(pg_engine)
    insert_user = Prepared(insert(users_table))
    count = Prepared(select(func.count()).select_from(users_table))
    with reading(pg_engine) as connection:
        assert count.after(connection, [(insert_user, _user(tenant_id, "u1", "ann"))], {}) == [(1,)]
        assert not connection.in_transaction()
        with pytest.raises(IntegrityError):  # the second statement fails: the first one's row goes with it
            insert_user.after(connection, [(insert_user, _user(tenant_id, "u2", "bob"))], _user(tenant_id, "u3", "ann"))
        assert count.first(connection, {}) == (1,)
    with pg_engine.connect() as other:  # committed: another connection sees it
        assert other.scalar(select(func.count()).select_from(users_table)) == 1


def test_a_statement_planned_for_its_values_is_never_prepared_on_the_server(pg_engine: Engine) -> None:
    """`custom_plan`: PostgreSQL gets no prepared statement to plan once for any values, however often it runs."""
    tenant_id = _tenant(pg_engine)
    planned, prepared = (Prepared(_USER.add_columns(literal_column(f"'{name}'")), custom_plan=custom)
                         for name, custom in (("planned", True), ("prepared", False)))
    with reading(pg_engine) as connection:
        for _ in range(8):  # psycopg prepares a statement on its fifth run
            for statement in (planned, prepared):
                assert statement.first(connection, {"tenant_id": tenant_id, "user_id": "none"}) is None
        texts = [row[0] for row in connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]
    assert any("prepared" in text for text in texts) and not any("planned" in text for text in texts), texts
