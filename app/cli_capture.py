"""`scim-server capture start|stop|show`: a tenant's traffic kept with its bodies for a while, for troubleshooting
(docs/troubleshooting.md). `app.cli` adds the `capture` group with `cli.add_command`."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.cli_helpers import transaction, when
from scim import capture
from scim.errors import InvalidValue
from storage import journal, tenants
from storage.documents import timestamp
from storage.models import utcnow


@click.group("capture", cls=AppGroup)
def capture_group() -> None:
    """Capture a tenant's SCIM requests and responses, bodies included (secrets redacted), for a while."""


@capture_group.command("start")
@click.option("--tenant", "tenant_name", required=True, help="Tenant whose traffic to capture.")
@click.option("--for", "duration", default=None,
              help="How long: minutes (90) or hours and minutes (2h, 1h30m); default 60m, at most 24h.")
def capture_start(tenant_name: str, duration: str | None) -> None:
    """Start capturing (what an earlier capture kept is discarded)."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        try:
            until = journal.start_capture(session, tenant, capture.duration(duration))
        except InvalidValue as error:
            raise click.BadParameter(error.detail, param_hint="--for") from error
    click.echo(f"capturing the traffic of tenant {tenant_name} until {when(until)} UTC")


@capture_group.command("stop")
@click.option("--tenant", "tenant_name", required=True, help="Tenant whose capture to end.")
def capture_stop(tenant_name: str) -> None:
    """Stop capturing now; what was captured stays readable until it expires."""
    with transaction() as session:
        journal.stop_capture(session, tenants.get_by_name(session, tenant_name))
    click.echo(f"capture of tenant {tenant_name} stopped")


@capture_group.command("show")
@click.option("--tenant", "tenant_name", required=True, help="Tenant whose captured traffic to show.")
@click.option("--json", "as_json", is_flag=True, help="The captured requests as JSON, headers and bodies included.")
def capture_show(tenant_name: str, as_json: bool) -> None:
    """The captured requests, newest first: time, method, path, status (with --json, everything kept)."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        rows = [journal.to_dict(entry) for entry in journal.captured(session, tenant.id)]
        until = tenant.capture_until
    if as_json:
        running = until is not None and until > utcnow()
        click.echo(json.dumps({"tenant": tenant_name, "capture_until": timestamp(until) if running else None,
                               "requests": rows}, indent=2, ensure_ascii=False))
        return
    click.echo("time\tmethod\tstatus\tpath")
    for row in rows:
        click.echo("\t".join([row["time"], row["method"], str(row["status"]), row["path"]]))
