"""`scim-server setup-link create|list|revoke`: links to a tenant's setup page for its customer's IT admin."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app import setup_links as links
from app.cli_helpers import served_url, transaction, when
from storage import setup_links, tenants


@click.group("setup-link", cls=AppGroup)
def setup_link_group() -> None:
    """Links that open a tenant's setup page (docs/setup-links.md)."""


@setup_link_group.command("create")
@click.option("--tenant", "tenant_name", required=True, help="The tenant whose setup page the link opens.")
@click.option("--expires", default="7d", show_default=True,
              help="How long the link works: a number and d, h or m (at most 30d).")
@click.option("--label", help="A note to recognise the link by, e.g. the support ticket.")
@click.option("--base-url", help="Where the server is reached (default: SCIM_PUBLIC_BASE_URL, else the address "
                                 "`serve` listens on).")
def create(tenant_name: str, expires: str, label: str | None, base_url: str | None) -> None:
    """Create a link; its URL is printed once, alone on the last line."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name)
        link, secret = setup_links.create(session, tenant, setup_links.parse_expiry(expires), label)
    click.echo(f"id: {link.id}")
    click.echo(f"expires: {when(link.expires_at)} UTC")
    click.echo("The link is shown only now; send it to the tenant's IT admin:", err=True)
    click.echo(links.url(base_url or served_url(), secret))


@setup_link_group.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's links.")
def list_command(tenant_name: str | None) -> None:
    """List setup links (never their secrets)."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name) if tenant_name else None
        rows = setup_links.list_links(session, tenant)
    click.echo("id\ttenant\tprefix\tlabel\tcreated\texpires\tstatus")
    for link, name in rows:
        click.echo("\t".join([link.id, name, link.prefix + "…", link.label or "-", when(link.created_at),
                              when(link.expires_at), setup_links.state(link)]))


@setup_link_group.command("revoke")
@click.argument("link_id")
def revoke(link_id: str) -> None:
    """Revoke LINK_ID; its page is refused from the next request."""
    with transaction() as session:
        setup_links.revoke(session, link_id)
    click.echo(f"setup link {link_id} revoked")
