"""The `scim-server` command: database, tenants, tokens and serving."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask.cli import AppGroup, ScriptInfo

from app import create_app, database
from app.cli_capture import capture_group
from app.cli_events import admin_key_group, events_command, prune_events
from app.cli_guard import guard_group
from app.cli_helpers import check_database, served_url, transaction, when
from app.cli_schemas import schema_group
from app.cli_setup_links import setup_link_group
from app.cli_webhooks import deliver_command, webhook_group
from app.console.cli import admin_group
from storage import revisions, tenants, tokens


class ServerGroup(AppGroup):
    """A command group whose commands run in this server's app, so Flask's own options (--app, --debug,
    --env-file) have nothing to choose and are not offered."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        extra.setdefault("obj", ScriptInfo(create_app=create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)


@click.group(cls=ServerGroup)
@click.version_option(package_name="scim-server", prog_name="scim-server", message="%(prog)s %(version)s")
def cli() -> None:
    """Run and administer the SCIM 2.0 provisioning server."""


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema to the newest revision."""
    check_database(migrated=False)
    revisions.upgrade(database.engine())
    click.echo(f"database at revision {revisions.current(database.engine())}")


@cli.group("tenant")
def tenant_group() -> None:
    """Manage tenants (the platform's customers)."""


@tenant_group.command("create")
@click.argument("name")
def tenant_create(name: str) -> None:
    """Create a tenant called NAME."""
    with transaction() as session:
        tenant = tenants.create(session, name)
    click.echo(f"tenant {tenant.name} created (id {tenant.id})")


@tenant_group.command("list")
def tenant_list() -> None:
    """List tenants."""
    with transaction() as session:
        rows = tenants.list_all(session)
    click.echo("id\tname\tcreated")
    for tenant in rows:
        click.echo(f"{tenant.id}\t{tenant.name}\t{when(tenant.created_at)}")


@cli.group("token")
def token_group() -> None:
    """Manage bearer tokens."""


@token_group.command("create")
@click.option("--tenant", "tenant_name", required=True, help="Tenant the token belongs to.")
@click.option("--label", help="A note to recognise the token by, e.g. 'Okta production'.")
@click.option("--expires-days", type=click.IntRange(min=1), help="Days until the token expires (default: never).")
def token_create(tenant_name: str, label: str | None, expires_days: int | None) -> None:
    """Create a token; its secret is printed once, alone on the last line."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        token, secret = tokens.issue(session, tenant, label=label, expires_days=expires_days)
    click.echo(f"id: {token.id}")
    click.echo("The token is shown only now; store it in your identity provider:", err=True)
    click.echo(secret)


@token_group.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's tokens.")
def token_list(tenant_name: str | None) -> None:
    """List tokens (never their secrets)."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name) if tenant_name else None
        rows = tokens.list_tokens(session, tenant)
    click.echo("id\ttenant\tprefix\tlabel\tcreated\texpires\tlast used\tstatus")
    for token, name in rows:
        status = "revoked" if token.revoked_at else "active"
        click.echo("\t".join([token.id, name, token.prefix + "…", token.label or "-", when(token.created_at),
                              when(token.expires_at), when(token.last_used_at), status]))


@token_group.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke TOKEN_ID; it stops working on the next request."""
    with transaction() as session:
        tokens.revoke(session, token_id)
    click.echo(f"token {token_id} revoked")


@cli.command("quickstart")
@click.option("--tenant", "tenant_name", default="default", show_default=True)
@click.option("--base-url", help="Where the server is reached (default: SCIM_PUBLIC_BASE_URL, else the address "
                                 "`serve` listens on: SCIM_BIND or 127.0.0.1:8000).")
def quickstart(tenant_name: str, base_url: str | None) -> None:
    """Migrate, create the tenant and its first token if needed, and print the settings to paste into Okta."""
    check_database(migrated=False)
    revisions.upgrade(database.engine())
    with transaction() as session:
        tenant = tenants.find_by_name(session, tenant_name)
        secret = None
        if tenant is None:
            tenant = tenants.create(session, tenant_name)
            _token, secret = tokens.issue(session, tenant, label="quickstart")
    scim_url = (base_url or served_url()).rstrip("/") + "/scim/v2"
    click.echo(f"""
SCIM server ready — tenant "{tenant_name}"

Okta (Applications → your SCIM app → Provisioning → Integration):
  SCIM connector base URL:            {scim_url}
  Unique identifier field for users:  userName
  Supported provisioning actions:     Import New Users and Profile Updates, Push New Users,
                                      Push Profile Updates, Push Groups
  Authentication Mode:                HTTP Header (Authorization: Bearer <token>)""")
    if secret:
        click.echo(f"  Bearer token (shown once):          {secret}\n")
    else:
        click.echo(f"  Bearer token: created earlier and not shown again. Create another with:\n"
                   f"    .venv/bin/scim-server token create --tenant {tenant_name} --label okta\n")


@cli.command("serve")
@click.option("--bind", default=None, help="HOST:PORT to listen on (default 127.0.0.1:8000, or SCIM_BIND).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default 2, or SCIM_WORKERS).")
@click.option("--deliver/--no-deliver", default=None,
              help="Run the webhook deliverer beside the workers (default: yes, or SCIM_DELIVER).")
def serve(bind: str | None, workers: int | None, deliver: bool | None) -> None:
    """Serve with gunicorn and the project's gunicorn configuration (refuses a database at another revision; starts
    without one it cannot reach, and /readyz says so), and deliver webhooks."""
    refusal = revisions.start_up_refusal(database.engine())
    if refusal:
        raise click.ClickException(refusal)
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_config"]
    if bind:
        argv += ["--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    if deliver is not None:
        os.environ["SCIM_DELIVER"] = "1" if deliver else "0"
    os.execv(sys.executable, [*argv, "wsgi:app"])


for command in (admin_group, admin_key_group, events_command, prune_events, schema_group, webhook_group,
                deliver_command, setup_link_group, guard_group, capture_group):
    cli.add_command(command)
