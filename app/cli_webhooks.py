"""`scim-server webhook …` (a tenant's endpoints and their deliveries) and `scim-server deliver`."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app import database
from app.cli_helpers import check_database, transaction, when
from app.deliverer import Deliverer, Settings, parent_alive, send_test
from app.gunicorn_deliverer import PARENT_ENV
from storage import events, tenants, webhooks

BESIDE_GUNICORN_NICENESS = 5


@click.group("webhook", cls=AppGroup)
def webhook_group() -> None:
    """Manage a tenant's webhook endpoints (signed messages of its events)."""


@webhook_group.command("add")
@click.option("--tenant", "tenant_name", required=True, help="Tenant whose events are sent.")
@click.option("--url", required=True, help="https URL (http only to loopback) the messages are POSTed to.")
@click.option("--kinds", help="Comma-separated event kinds, wildcards allowed (e.g. user.*,group.members_*); "
                              "default: all.")
def webhook_add(tenant_name: str, url: str, kinds: str | None) -> None:
    """Add an endpoint; its signing secret is printed once, alone on the last line."""
    with transaction() as session:
        endpoint = webhooks.add(session, tenants.get_by_name(session, tenant_name), url, kinds)
        secret = endpoint.secret
        endpoint_id = endpoint.id
    click.echo(f"id: {endpoint_id}")
    click.echo("The signing secret is shown only now; give it to the receiver:", err=True)
    click.echo(secret)


@webhook_group.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's endpoints.")
def webhook_list(tenant_name: str | None) -> None:
    """List endpoints (never their secrets)."""
    with transaction() as session:
        tenant = tenants.get_by_name(session, tenant_name) if tenant_name else None
        rows = webhooks.list_endpoints(session, tenant)
        click.echo("id\ttenant\turl\tkinds\tcreated\tstatus")
        for endpoint, name in rows:
            click.echo("\t".join([str(endpoint.id), name, endpoint.url, endpoint.kinds or "*",
                                  when(endpoint.created_at), webhooks.status(endpoint)]))


@webhook_group.command("remove")
@click.argument("endpoint_id", type=int)
def webhook_remove(endpoint_id: int) -> None:
    """Remove endpoint ENDPOINT_ID and its deliveries."""
    with transaction() as session:
        webhooks.remove(session, endpoint_id)
    click.echo(f"webhook {endpoint_id} removed")


@webhook_group.command("test")
@click.argument("endpoint_id", type=int)
def webhook_test(endpoint_id: int) -> None:
    """Send a signed `webhook.test` message to ENDPOINT_ID now and show the answer."""
    with transaction() as session:
        endpoint = webhooks.get(session, endpoint_id)
        url, secret = endpoint.url, endpoint.secret
    answer = send_test(url, secret, endpoint_id, Settings.from_config(current_app.config).timeout)
    click.echo(f"status: {answer.status or 'no answer'}\tlatency: {answer.latency_ms} ms")
    if answer.excerpt:
        click.echo(answer.excerpt)
    if answer.status is None or not 200 <= answer.status < 300:
        raise SystemExit(1)


@webhook_group.command("deliveries")
@click.argument("endpoint_id", type=int)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def webhook_deliveries(endpoint_id: int, limit: int) -> None:
    """The endpoint's newest deliveries: event, kind, status, attempts, last HTTP status, latency, answer."""
    with transaction() as session:
        endpoint = webhooks.get(session, endpoint_id)
        click.echo(f"webhook {endpoint.id} {endpoint.url}: {webhooks.status(endpoint)}")
        click.echo("event\tkind\tstatus\tattempts\thttp\tlatency\tlast attempt\tanswer")
        for delivery, kind in webhooks.deliveries(session, endpoint_id, limit):
            click.echo("\t".join([events.encode_cursor(delivery.event_id), kind, delivery.status,
                                  str(delivery.attempts), str(delivery.last_status or "-"),
                                  f"{delivery.latency_ms} ms" if delivery.latency_ms is not None else "-",
                                  when(delivery.last_attempt_at), _one_line(delivery.response_excerpt)]))


@webhook_group.command("replay")
@click.argument("endpoint_id", type=int)
@click.option("--from", "cursor", required=True, help="The event to send again from (its id in the change feed).")
def webhook_replay(endpoint_id: int, cursor: str) -> None:
    """Send ENDPOINT_ID the tenant's events again from an event on (and enable it if it was disabled)."""
    with transaction() as session:
        webhooks.replay(session, endpoint_id, events.decode_cursor(cursor))
    click.echo(f"webhook {endpoint_id} replays from {cursor}")


def _one_line(text: str | None) -> str:
    return " ".join((text or "-").split())[:80]


@click.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Deliver webhook messages until stopped (SIGTERM or Ctrl-C); any number may run on one database."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:  # run by hand: say at once what is wrong; beside gunicorn: wait for the database, as it does
        check_database()
    else:  # beside gunicorn, on the same cores: the identity providers' requests come first
        os.nice(BESIDE_GUNICORN_NICENESS)
    stop = threading.Event()

    def _stop(_signal: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    keep_going = parent_alive(int(parent)) if parent else (lambda: True)
    Deliverer(database.engine(), Settings.from_config(current_app.config)).run(stop, keep_going)
