"""The scim-server command as an operator meets it: its own options and version, clean one-line errors on a database
that cannot be used, headers on every listing, checked tenant names and event kinds, and a quiet Alembic."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.cli import cli
from scim.changes import KINDS
from tests.conftest import POSTGRES_URL
from tests.live import REPO, free_port

SCIM_SERVER = str(Path(sys.executable).with_name("scim-server"))
LISTINGS = [["tenant", "list"], ["token", "list"], ["events"], ["admin", "list"], ["schema", "list"],
            ["admin-key", "list"]]
NOT_MIGRATED = "Error: the database is not migrated to the current revision: run `scim-server init-db`"


def run_installed(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `scim-server` entry point, as an operator runs it."""
    return subprocess.run([SCIM_SERVER, *args], env={**os.environ, "SCIM_DATABASE_URL": database_url, **env},
                          cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists and was never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set SCIM_TEST_POSTGRES_URL")
    name = f"scim_test_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def invoke_on(url: str, *args: str):
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        return app.test_cli_runner().invoke(cli, list(args))
    finally:
        app.extensions["scim.engine"].dispose()


def test_help_offers_the_servers_options_only(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "init-db" in result.output and "--version" in result.output
    for flask_option in ("--app", "--debug", "--env-file", "python-dotenv"):
        assert flask_option not in result.output


def test_version_is_the_servers_own(tmp_path: Path) -> None:
    result = run_installed("--version", database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"scim-server {version('scim-server')}"


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
def test_every_command_on_an_unmigrated_database_says_to_run_init_db(empty_url: str, command: list[str]) -> None:
    result = invoke_on(empty_url, *command)
    assert result.exit_code == 1 and result.output.splitlines() == [NOT_MIGRATED]


@pytest.mark.parametrize("command", [*LISTINGS, ["init-db"], ["quickstart"]], ids=" ".join)
def test_every_command_on_an_unreachable_database_names_it_in_one_line(command: list[str]) -> None:
    url = f"postgresql+psycopg://scim:secret@127.0.0.1:{free_port()}/scim"
    result = invoke_on(url, *command)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: cannot reach the database at postgresql+psycopg://scim:***@127.0.0.1:")
    assert "refused" in line and "secret" not in line


def test_init_db_on_a_missing_postgresql_database_says_which(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set SCIM_TEST_POSTGRES_URL")
    name = f"scim_missing_{uuid.uuid4().hex[:10]}"
    result = run_installed("init-db", database_url=make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: cannot reach the database at ") and f'database "{name}" does not exist' in line


def test_init_db_and_commands_do_not_print_alembic_logs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scim.db'}"
    migrated = run_installed("init-db", database_url=url)
    assert migrated.returncode == 0 and migrated.stderr == ""
    assert migrated.stdout.startswith("database at revision ")
    listed = run_installed("tenant", "list", database_url=url)
    assert listed.returncode == 0 and listed.stderr == "" and listed.stdout == "id\tname\tcreated\n"


def test_every_listing_starts_with_a_header(runner: FlaskCliRunner) -> None:
    assert runner.invoke(cli, ["tenant", "create", "acme"]).exit_code == 0
    assert runner.invoke(cli, ["admin", "create", "ops@example.com", "--password-stdin"],
                         input="a long enough password\n").exit_code == 0
    tenants = runner.invoke(cli, ["tenant", "list"]).output.splitlines()
    assert tenants[0] == "id\tname\tcreated" and tenants[1].split("\t")[:2] == ["1", "acme"]
    admins = runner.invoke(cli, ["admin", "list"]).output.splitlines()
    assert admins[0] == "email\tcreated\tlast sign-in"
    assert admins[1].startswith("ops@example.com\t") and admins[1].endswith("\tnever")
    for command in (["token", "list"], ["schema", "list"], ["admin-key", "list"], ["events"]):
        assert runner.invoke(cli, command).output.splitlines()[0].split()[0] in ("id", "tenant", "time")


def test_an_unknown_event_kind_is_refused_with_the_kinds(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["events", "--kind", "bogus"])
    assert result.exit_code == 2 and "'bogus' is not one of" in result.output
    assert all(kind in result.output for kind in KINDS)


@pytest.mark.parametrize("name", ["Bad Name!", "a/b", "Acme", "-acme", ".acme", "x" * 64, "acme\n", "ünï"])
def test_a_tenant_name_outside_the_pattern_is_refused(runner: FlaskCliRunner, name: str) -> None:
    result = runner.invoke(cli, ["tenant", "create", "--", name])
    assert result.exit_code == 1 and "is not a tenant name" in result.output and "lowercase letters" in result.output
    assert runner.invoke(cli, ["tenant", "list"]).output.splitlines()[1:] == []


def test_tenant_names_within_the_pattern_are_taken(runner: FlaskCliRunner) -> None:
    for name in ("a", "acme", "acme-prod.eu_1", "0" + "x" * 62):
        result = runner.invoke(cli, ["tenant", "create", name])
        assert result.exit_code == 0, result.output


def test_quickstart_prints_the_address_it_will_serve_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scim.db'}"
    result = run_installed("quickstart", database_url=url, SCIM_BIND="0.0.0.0:9123")
    assert result.returncode == 0, result.stderr
    assert "http://127.0.0.1:9123/scim/v2" in result.stdout and "8000" not in result.stdout
    public = run_installed("quickstart", database_url=url, SCIM_PUBLIC_BASE_URL="https://scim.example.com/")
    assert "https://scim.example.com/scim/v2" in public.stdout
