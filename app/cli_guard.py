"""`scim-server guard`: a tenant's mass-deprovisioning guard from the shell (docs/guard.md). `app.cli` adds it."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from app.cli_helpers import transaction
from scim import spans
from storage import events, guard, tenants

DEFAULT = "default"


class Threshold(click.ParamType):
    """A positive number of deprovisions, or `default` (the default for the tenant's size)."""

    name = "N|default"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # already converted, or the option not given (_UNSET)
            return value
        if value == DEFAULT:
            return None
        if not value.isdigit() or int(value) < 1:
            self.fail(f"{value!r} is neither a positive number nor {DEFAULT!r}.", param, ctx)
        return int(value)


class WindowSpan(click.ParamType):
    """A span such as 15m, 1h or 900s, or `default`; in seconds."""

    name = "SPAN|default"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # already converted, or the option not given (_UNSET)
            return value
        if value == DEFAULT:
            return None
        span = spans.parse(value)
        if span is None or span.total_seconds() < 1:
            self.fail(f"{value!r} is neither a span like 15m, 1h or 900s nor {DEFAULT!r}.", param, ctx)
        return int(span.total_seconds())


_UNSET = object()  # an option not given: the setting stays as it is


@click.group("guard", cls=AppGroup)
def guard_group() -> None:
    """The mass-deprovisioning guard: deliveries of a tenant's changes stop when too many deprovisions come at once."""


@guard_group.command("set")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--max-deprovisions", type=Threshold(), default=_UNSET,
              help="Hold when more than N deactivations, deletions and membership removals come within the window "
                   "(default: 5% of the tenant's users, at least 10).")
@click.option("--window", type=WindowSpan(), default=_UNSET, help="The sliding window, e.g. 15m (the default).")
@click.option("--on/--off", "enabled", default=None, help="Turn the guard on (the default) or off.")
def guard_set(tenant_name: str, max_deprovisions: Any, window: Any, enabled: bool | None) -> None:
    """Change a tenant's guard settings; those not given stay as they are."""
    settings: dict[str, Any] = {}
    if max_deprovisions is not _UNSET:
        settings["max_deprovisions"] = max_deprovisions
    if window is not _UNSET:
        settings["window_seconds"] = window
    if enabled is not None:
        settings["enabled"] = enabled
    with transaction() as session:
        tenant_id = tenants.get_by_name(session, tenant_name).id
        guard.configure(session, tenant_id, settings)
    with transaction() as session:
        _show(tenant_name, guard.status(session, tenant_id))


@guard_group.command("status")
@click.option("--tenant", "tenant_name", help="Only this tenant (default: every tenant).")
def guard_status(tenant_name: str | None) -> None:
    """Show each tenant's guard: settings, deprovisions in the window now, and a hold with its counts and sample."""
    with transaction() as session:
        chosen = [tenants.get_by_name(session, tenant_name)] if tenant_name else tenants.list_all(session)
        for tenant in chosen:
            _show(tenant.name, guard.status(session, tenant.id))


@guard_group.command("release")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--net", is_flag=True, help="Deliver only the net effect: drop what later events undid (a "
                                          "deactivation reverted, a member removed and added back).")
def guard_release(tenant_name: str, net: bool) -> None:
    """Release a tenant's hold: the held events are delivered in order."""
    with transaction() as session:
        released = guard.release(session, tenants.get_by_name(session, tenant_name).id, net=net)
    click.echo(f"{tenant_name}: released {released.delivered} events for delivery"
               + (f", dropped {released.dropped} that cancel out" if net else "")
               + f" (through event {events.encode_cursor(released.through)})")


def _show(name: str, status: guard.Status) -> None:
    state = "on" if status.enabled else "off"
    threshold = f"{status.max_deprovisions}" + (" (default)" if not status.max_deprovisions_set else "")
    window = f"{status.window_seconds // 60}m" if status.window_seconds % 60 == 0 else f"{status.window_seconds}s"
    click.echo(f"{name}: guard {state}, holds past {threshold} deprovisions in {window}"
               + ("" if status.window_set else " (default)") + f"; {status.in_window} in the window now")
    if status.hold is None:
        return
    summary = status.hold.summary
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(summary["counts"].items()))
    click.echo(f"  HELD since {summary['tripped_at']}: {counts}; {status.held_events} events waiting")
    for side in ("users", "groups"):
        for item in summary["sample"][side]:
            click.echo(f"    {side[:-1]} {item['id']} {item['name'] or '(deleted)'}")
    click.echo(f"  release: scim-server guard release --tenant {name} [--net]")
