"""What every `scim-server` subcommand module shares: a storage transaction per command and the time column."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from sqlalchemy.orm import Session

from scim.errors import ScimError


@contextmanager
def transaction() -> Iterator[Session]:
    """A session committed when the command succeeds; storage errors become clean CLI errors."""
    try:
        with current_app.extensions["scim.sessionmaker"].begin() as session:
            yield session
    except ScimError as error:
        raise click.ClickException(error.detail) from error


def when(value: object) -> str:
    """A listing's time column: minutes in UTC, or "-" when there is none."""
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"
