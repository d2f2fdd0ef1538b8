"""`scim-server admin …`: the accounts that sign in to the console at /admin."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.cli_helpers import transaction, when
from app.console.security import EMAIL_MAX, hash_password
from storage import admins

PASSWORD_MIN = 12

_password_stdin = click.option("--password-stdin", is_flag=True,
                               help="Read the password from the first line of standard input instead of prompting.")


@click.group("admin", cls=AppGroup)
def admin_group() -> None:
    """Manage admin console accounts."""


@admin_group.command("create")
@click.argument("email")
@_password_stdin
def admin_create(email: str, password_stdin: bool) -> None:
    """Create an admin who signs in with EMAIL; the password is prompted for (or read with --password-stdin)."""
    if "@" not in email or len(email) > EMAIL_MAX:
        raise click.BadParameter("not an email address", param_hint="EMAIL")
    password_hash = hash_password(_read_password(password_stdin))
    with transaction() as session:
        admin = admins.create(session, email, password_hash)
    click.echo(f"admin {admin.email} created; sign in at /admin")


@admin_group.command("set-password")
@click.argument("email")
@_password_stdin
def admin_set_password(email: str, password_stdin: bool) -> None:
    """Give EMAIL a new password; their open sessions end."""
    password_hash = hash_password(_read_password(password_stdin))
    with transaction() as session:
        admin = admins.set_password_hash(session, email, password_hash)
    click.echo(f"password of {admin.email} changed")


@admin_group.command("list")
def admin_list() -> None:
    """List admins and when they last signed in."""
    with transaction() as session:
        rows = admins.list_all(session)
    click.echo("email\tcreated\tlast sign-in")
    for admin in rows:
        last = when(admin.last_sign_in_at) if admin.last_sign_in_at else "never"
        click.echo(f"{admin.email}\t{when(admin.created_at)}\t{last}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < PASSWORD_MIN:
        raise click.ClickException(f"The password must have at least {PASSWORD_MIN} characters.")
    return password
