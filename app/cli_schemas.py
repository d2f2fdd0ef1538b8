"""`scim-server schema add|list|remove`: a tenant's own extension schemas (RFC 7643 §3.3, §7); see docs/extensions.md.

`app.cli` adds the `schema` group with `cli.add_command`.
"""

from __future__ import annotations

import json
from typing import IO, Any

import click
from flask.cli import AppGroup

from app.cli_helpers import transaction, when
from scim.errors import Conflict
from storage import tenant_schemas, tenants


@click.group("schema", cls=AppGroup)
def schema_group() -> None:
    """Manage tenants' extension schemas (their own attributes, e.g. a site or a team code)."""


@schema_group.command("add")
@click.option("--tenant", "tenant_name", required=True, help="Tenant the schema belongs to.")
@click.option("--resource-type", required=True, help="Resource type the schema extends: User or Group.")
@click.argument("file", type=click.File("rb"))
def schema_add(tenant_name: str, resource_type: str, file: IO[bytes]) -> None:
    """Add the extension schema in FILE, a JSON schema representation (RFC 7643 §7); it takes effect at once."""
    definition = _read_json(file)
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        row = tenant_schemas.add(session, tenant.id, resource_type, definition)
    click.echo(f"schema {row.urn} added to {row.resource_type} of tenant {tenant.name}")


@schema_group.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's schemas.")
def schema_list(tenant_name: str | None) -> None:
    """List extension schemas: tenant, resource type, URN, number of attributes, when added."""
    with transaction() as session:
        tenant_id = tenants.get_by_name(session, tenant_name).id if tenant_name else None
        rows = tenant_schemas.list_schemas(session, tenant_id)
    click.echo("tenant\tresource type\turn\tattributes\tcreated")
    for row, name in rows:
        attributes = str(len(row.definition["attributes"]))
        click.echo("\t".join([name, row.resource_type, row.urn, attributes, when(row.created_at)]))


@schema_group.command("remove")
@click.option("--tenant", "tenant_name", required=True, help="Tenant the schema belongs to.")
@click.option("--purge", is_flag=True, help="Also delete the values users or groups hold under the schema.")
@click.argument("urn")
def schema_remove(tenant_name: str, purge: bool, urn: str) -> None:
    """Remove the extension schema URN; refused while resources hold values of it, unless --purge."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        try:
            removed, purged = tenant_schemas.remove(session, tenant.id, urn, purge=purge)
        except Conflict as error:
            raise click.ClickException(
                f"{error.detail} Remove those values first, or run again with --purge to delete them with the schema."
            ) from error
    purged_note = f"; values purged from {purged} resource(s)" if purge else ""
    click.echo(f"schema {removed} removed from tenant {tenant.name}{purged_note}")


def _read_json(file: IO[bytes]) -> Any:
    try:
        return json.loads(file.read())
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{file.name} is not UTF-8 text: {error}") from error
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{file.name} is not JSON: {error}") from error
