"""What every `scim-server` subcommand module shares: a storage transaction per command, the check that the database
can be used, and the time column."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import config, database
from scim.errors import ScimError
from storage import revisions


@contextmanager
def transaction() -> Iterator[Session]:
    """A session committed when the command succeeds; storage errors, and a database that cannot be reached or is
    not migrated, become one-line CLI errors."""
    try:
        with current_app.extensions["scim.sessionmaker"].begin() as session:
            yield session
    except ScimError as error:
        raise click.ClickException(error.detail) from error
    except DBAPIError:
        check_database()  # names the cause when it is one of those two
        raise


def check_database(*, migrated: bool = True) -> None:
    """Fail with one line and the fix when the database cannot be reached or, with `migrated`, is not at the code's
    revision."""
    engine = database.engine()
    try:
        current = revisions.is_current(engine)
    except DBAPIError as error:
        reason = " ".join(str(error.orig or error).split())  # drivers' messages span lines
        url = engine.url.render_as_string(hide_password=True)
        raise click.ClickException(f"cannot reach the database at {url}: {reason}") from error
    if migrated and not current:
        raise click.ClickException(
            "the database is not migrated to the current revision: run `scim-server init-db`"
        )


def when(value: object) -> str:
    """A listing's time column: minutes in UTC, or "-" when there is none."""
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def served_url() -> str:
    """The URL the server is reached at: the configured public one, else the address `serve` binds."""
    public = current_app.config.get("PUBLIC_BASE_URL")
    if public:
        return public
    host, _, port = config.served_bind().rpartition(":")
    if host in ("0.0.0.0", "[::]", ""):  # every interface: this machine answers on its loopback address too
        host = "127.0.0.1"
    return f"http://{host}:{port}"
