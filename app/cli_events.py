"""`scim-server events`, `prune-events` and `admin-key`: the activity log and the admin API's keys from the shell.

`app.cli` adds these commands to `scim-server`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.cli_helpers import transaction, when
from scim import changes, spans
from storage import admin_keys, auth_failures, events, guard, journal, tenants
from storage.models import Event, utcnow

# `--follow` asks for new events this often; at most this many are printed per poll, the rest on the next one.
POLL_SECONDS = 1.0
POLL_LIMIT = 500


class Since(click.ParamType):
    """A moment: ISO 8601 (UTC unless it has an offset), or an age such as 30m, 1h, 2d, 1w."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        span = spans.parse(value)
        if span is not None:
            return utcnow() - span
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is neither ISO 8601 nor an age like 30m, 1h, 2d or 1w.", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("events")
@with_appcontext
@click.option("--tenant", "tenant_name", help="Only this tenant's events.")
@click.option("--since", type=Since(), help="Only events since then: ISO 8601, or an age like 1h or 2d.")
@click.option("--kind", type=click.Choice(changes.KINDS), metavar="KIND",
              help="Only this kind, e.g. user.deactivated or request.rejected.")
@click.option("--follow", is_flag=True, help="Keep printing new events until interrupted (Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, as the admin API's feed.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="The newest N events.")
def events_command(
    tenant_name: str | None, since: datetime | None, kind: str | None, follow: bool, as_json: bool, limit: int
) -> None:
    """Show the activity log, oldest first: writes and rejected requests of the SCIM API."""
    with transaction() as session:
        tenant_id = tenants.get_by_name(session, tenant_name).id if tenant_name else None
        start = events.newest_id(session)
        rows = events.read(session, limit=limit, tenant_id=tenant_id, kind=kind, since=since, newest=True)
    if not as_json:
        click.echo(_HEADER)
    _show(rows, as_json)
    if follow:
        _follow(max([start, *(row[0].id for row in rows)]), tenant_id, kind, as_json)


def _follow(after: int, tenant_id: int | None, kind: str | None, as_json: bool) -> None:
    """Poll for events after `after` until interrupted; the feed's commit order means none is skipped."""
    try:
        while True:
            time.sleep(POLL_SECONDS)
            with transaction() as session:
                rows = events.read(session, after=after, limit=POLL_LIMIT, tenant_id=tenant_id, kind=kind)
            _show(rows, as_json)
            after = rows[-1][0].id if rows else after
    except KeyboardInterrupt:
        return


_COLUMNS = "{:<19}  {:<16}  {:<22}  {:>6}  {:<42}  {}"
_HEADER = _COLUMNS.format("time (UTC)", "tenant", "kind", "status", "resource", "detail")


def _show(rows: list[tuple[Event, str | None]], as_json: bool) -> None:
    for event, tenant_name in rows:
        if as_json:
            click.echo(json.dumps(events.to_dict(event, tenant_name), ensure_ascii=False))
        else:
            resource = " ".join(part for part in (event.resource_type, event.resource_id) if part)
            click.echo(_COLUMNS.format(f"{event.occurred_at:%Y-%m-%d %H:%M:%S}", tenant_name or "-", event.kind,
                                       event.status, resource or event.path, _summary(event)))


def _summary(event: Event) -> str:
    """A rejection's scimType and detail, or the attribute paths a change touched."""
    if event.detail:
        return f"{event.scim_type}: {event.detail}" if event.scim_type else event.detail
    return ", ".join(event.diff or ())


@click.command("prune-events")
@with_appcontext
def prune_events() -> None:
    """Delete events, counts of failed authentications and guard holds released, older than
    SCIM_EVENT_RETENTION_DAYS (default 90), and captured traffic past its 24 hours, and print how many."""
    days = int(current_app.config["EVENT_RETENTION_DAYS"])
    cutoff = utcnow() - timedelta(days=days)
    with transaction() as session:
        count = events.prune(session, cutoff)
        minutes = auth_failures.prune(session, cutoff)
        holds = guard.prune(session, cutoff)  # after the events: a dropped event's record goes with the event
        captured = journal.prune_captured(session)
    click.echo(f"{count} events older than {days} days ({cutoff:%Y-%m-%d %H:%M} UTC) deleted")
    click.echo(f"{minutes} minutes of failed-authentication counts older than that deleted")
    click.echo(f"{holds} guard holds released before then deleted")
    click.echo(f"{captured} captured requests older than {journal.CAPTURE_KEPT.total_seconds() / 3600:.0f} hours "
               "discarded")


@click.group("admin-key", cls=AppGroup)
def admin_key_group() -> None:
    """Manage keys for the admin API (/admin/v1); SCIM tokens do not open it."""


@admin_key_group.command("create")
@click.option("--label", help="A note to recognise the key by, e.g. 'provisioning-sync'.")
def admin_key_create(label: str | None) -> None:
    """Create a key; it is printed once, alone on the last line."""
    with transaction() as session:
        key, secret = admin_keys.issue(session, label)
    click.echo(f"id: {key.id}")
    click.echo("The key is shown only now; store it where the platform service reads it:", err=True)
    click.echo(secret)


@admin_key_group.command("list")
def admin_key_list() -> None:
    """List keys (never their secrets)."""
    with transaction() as session:
        keys = admin_keys.list_keys(session)
    click.echo("id\tprefix\tlabel\tcreated\tstatus")
    for key in keys:
        status = "revoked" if key.revoked_at else "active"
        click.echo("\t".join([key.id, key.prefix + "…", key.label or "-", when(key.created_at), status]))


@admin_key_group.command("revoke")
@click.argument("key_id")
def admin_key_revoke(key_id: str) -> None:
    """Revoke KEY_ID; it stops working on the next request."""
    with transaction() as session:
        admin_keys.revoke(session, key_id)
    click.echo(f"admin key {key_id} revoked")
