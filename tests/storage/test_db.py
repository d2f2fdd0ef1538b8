"""SQLite's writer queue (storage/db.py): writers wait on a flock beside the database instead of SQLite's
sleeping busy handler, and the lock goes with the transaction, whichever way it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from storage import db
from storage.db import begin_write, make_engine, make_sessionmaker, write_transaction
from tests.locks import WAIT_SECONDS, wait_until_blocked


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE log (writer TEXT)"))
    yield engine
    engine.dispose()


def rows(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT writer FROM log ORDER BY rowid"))]


def test_the_lock_file_lives_beside_the_database(engine: Engine, tmp_path: Path) -> None:
    with write_transaction(engine) as connection:
        connection.execute(text("INSERT INTO log VALUES ('a')"))
    assert (tmp_path / "queue.db-writer.lock").exists()
    assert rows(engine) == ["a"]


def test_a_second_writer_waits_for_the_first_to_commit_then_goes_on(engine: Engine) -> None:
    first_in, second_done = threading.Event(), threading.Event()
    release = threading.Event()

    def first() -> None:
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO log VALUES ('first')"))
            first_in.set()
            release.wait(WAIT_SECONDS)

    def second() -> None:
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO log VALUES ('second')"))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_in.wait(WAIT_SECONDS)
    threads[1].start()
    try:
        wait_until_blocked(engine, second_done)
    finally:
        release.set()
    assert second_done.wait(WAIT_SECONDS)
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert rows(engine) == ["first", "second"]


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_the_queue_is_released_however_the_transaction_ends(engine: Engine, end: str) -> None:
    session = make_sessionmaker(engine)()
    begin_write(session)
    session.execute(text("INSERT INTO log VALUES ('void')"))
    getattr(session, end)()
    done = threading.Event()

    def writer() -> None:
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO log VALUES ('next')"))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert done.wait(WAIT_SECONDS), "the next writer still waits after the first ended"
    thread.join(WAIT_SECONDS)
    session.close()
    assert rows(engine) == ["next"]


def test_a_second_writer_in_the_same_thread_does_not_wait_for_itself(engine: Engine) -> None:
    """It skips the queue and meets SQLite's own lock and busy_timeout (here 100 ms), as it would without a queue."""
    with write_transaction(engine) as connection:
        connection.execute(text("INSERT INTO log VALUES ('held')"))
        with engine.connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout=100")
            other.commit()
            with pytest.raises(OperationalError, match="locked"):
                other.execution_options(scim_begin_immediate=True).begin()
    assert rows(engine) == ["held"]


def test_an_idle_postgresql_connection_that_died_is_replaced_at_checkout(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended the pooled connection (a restart, a failover, an idle timeout): the next request still works."""
    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            dead = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        other = make_engine(postgres_database)
        with other.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
            admin.commit()
        other.dispose()
        with engine.connect() as connection:
            alive = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert alive != dead
    finally:
        engine.dispose()


def test_postgresql_connections_carry_the_timeouts_and_keep_the_urls_own_options(postgres_database: str) -> None:
    url = make_url(postgres_database).update_query_dict({"options": "-c application_name=scim-timeouts"})
    engine = make_engine(url.render_as_string(hide_password=False), connect_timeout=3, statement_timeout=1.5)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == "1500ms"
            assert connection.exec_driver_sql("SHOW application_name").scalar_one() == "scim-timeouts"
            settings = connection.connection.driver_connection.info.get_parameters()
            assert (settings["connect_timeout"], settings["tcp_user_timeout"]) == ("3", "1500")
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.exec_driver_sql("SELECT pg_sleep(3)")
    finally:
        engine.dispose()


def test_checkpoints_run_every_so_many_queued_writes_on_a_thread_of_their_own(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint is off on the server's connections; every CHECKPOINT_EVERY writes committed
    behind the writer queue (a reader's commit does not count), a thread of the process checkpoints the log."""
    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 5)
    database = tmp_path / "queue.db"
    engine.dispose()
    fresh = make_engine(f"sqlite:///{database}", pool_size=1, max_overflow=0)
    with fresh.connect() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
        connection.commit()  # a reader's transaction: not counted
    empty = database.stat().st_size
    for _ in range(4):
        with write_transaction(fresh) as connection:
            connection.execute(text("INSERT INTO log VALUES (:blob)"), {"blob": "x" * 100_000})
    time.sleep(0.5)
    assert database.stat().st_size == empty  # 400 KB written, all of it still in the WAL
    with write_transaction(fresh) as connection:
        connection.execute(text("INSERT INTO log VALUES (:blob)"), {"blob": "x" * 100_000})
    deadline = time.monotonic() + WAIT_SECONDS  # the checkpoint's thread may be slow to run on a loaded machine
    while database.stat().st_size <= empty + 450_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database.stat().st_size > empty + 450_000  # the fifth write had the log checkpointed into the file
    assert any(thread.name == "sqlite-checkpoint" for thread in threading.enumerate())
    fresh.dispose()


def wal_starts(wal: Path) -> int:
    """How many times the WAL has started over from its beginning: the checkpoint sequence number of its header
    (SQLite's file format, "WAL header"), which each restart counts up."""
    with wal.open("rb") as log:
        return int.from_bytes(log.read(32)[12:16], "big")


def test_the_wal_keeps_starting_over_while_writers_and_readers_keep_coming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers commit back to back while a reader keeps reading, as two busy workers do: the checkpoint's tail
    runs before the next writer can commit, so it copies the whole log back and the next writer starts the log over,
    which keeps it bounded. A checkpoint that races the commits never catches up, and the log grows with every write.
    How far the log grows between two starts depends on the machine's load and on when the reader reads, so the test
    counts the starts: tens of them in 3,000 writes, against none or one when the checkpoints race the commits."""
    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 20)
    database = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE log (writer TEXT)"))
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for _ in range(1_500):
                with write_transaction(engine) as connection:
                    connection.execute(text("INSERT INTO log VALUES (:blob)"), {"blob": name * 4_000})
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    def read() -> None:
        while not stop.is_set():
            with engine.connect() as connection:
                connection.execute(text("SELECT max(rowid) FROM log")).scalar_one()  # short, as a request's
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(name,)) for name in "ab"]
    reader.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=600)
    stop.set()
    reader.join(timeout=WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in (*writers, reader))
    starts = wal_starts(Path(f"{database}-wal"))
    engine.dispose()
    assert not errors
    assert rows(engine).count("a" * 4_000) == 1_500
    assert starts >= 10, f"the WAL started over {starts} times in 3,000 writes, a checkpoint due every 20"


def test_connections_read_through_a_memory_map_and_see_every_checkpointed_write(engine: Engine) -> None:
    """mmap_size: reads come from the mapped file instead of a read() per page; a page a checkpoint rewrote reads as
    written."""
    with engine.connect() as reader:
        assert reader.exec_driver_sql("PRAGMA mmap_size").scalar() == db.SQLITE_MMAP_BYTES
        assert reader.execute(text("SELECT count(*) FROM log")).scalar() == 0
        reader.rollback()  # its read transaction ends: the next read takes a new snapshot
        with write_transaction(engine) as connection:
            connection.execute(text("INSERT INTO log VALUES ('written')"))
        with engine.connect() as other:  # the write moves from the WAL into the mapped file
            assert other.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0] == 0  # not busy: done
        assert reader.execute(text("SELECT writer FROM log")).scalars().all() == ["written"]
