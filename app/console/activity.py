"""The activity log: every tenant's, or one tenant's, newest first, filtered by kind, status, time and resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, render_template, request, url_for

from app import database
from app.console.blueprint import bp
from app.console.pages import FormError
from scim import changes
from storage import admins, auth_failures, events
from storage.models import Event, Tenant, utcnow

STATUSES = {"": None, "failed": True, "succeeded": False}
MAX_ID = 2**63 - 1  # event ids are BIGINT
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends; read as UTC
AUTH_FAILURES_SHOWN = timedelta(hours=24)  # failed authentications name no tenant: all tenants' page shows them


@bp.get("/activity")
def activity_page() -> tuple[str, int]:
    """Every tenant's events, and the failed authentications of the last day, counted per address and minute."""
    return _activity(None)


@bp.get("/tenants/<int:tenant_id>/activity")
def tenant_activity_page(tenant_id: int) -> tuple[str, int]:
    """One tenant's events."""
    return _activity(admins.get_tenant(database.get_session(), tenant_id))


def _activity(tenant: Tenant | None) -> tuple[str, int]:
    size = int(current_app.config["CONSOLE_PAGE_SIZE"])
    context: dict[str, Any] = {"tenant": tenant, "kinds": changes.KINDS, "args": request.args, "rows": [],
                               "older": None, "auth_failures": []}
    if tenant is None:
        context["auth_failures"] = auth_failures.recent(database.get_session(), utcnow() - AUTH_FAILURES_SHOWN, size)
    try:
        where = _filter(tenant)
    except FormError as error:
        return render_template("console/activity.html", error=str(error), **context), 400
    before = min(request.args.get("before", type=int) or MAX_ID, MAX_ID)
    rows = admins.activity(database.get_session(), where, before=before, limit=size + 1)
    context.update(rows=rows[:size], older=rows[size - 1][0].id if len(rows) > size else None)
    return render_template("console/activity.html", error=None, **context), 200


def _filter(tenant: Tenant | None) -> admins.ActivityFilter:
    args = request.args
    kind = args.get("kind") or None
    if kind is not None and kind not in changes.KINDS:
        raise FormError(f"Unknown event kind {kind!r}.")
    status = args.get("status", "")
    if status not in STATUSES:
        raise FormError("Status is failed, succeeded or empty.")
    return admins.ActivityFilter(tenant_id=tenant.id if tenant else None, kind=kind, failed=STATUSES[status],
                                 since=_time("since"), until=_time("until"), resource_id=args.get("resource") or None)


def _time(name: str) -> datetime | None:
    text = request.args.get(name, "")
    if not text:
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as error:
        raise FormError(f"{name.capitalize()} is a date and time like 2026-01-31T09:30 (UTC).") from error


@bp.app_template_filter("resource_url")
def resource_url(event: Event) -> str | None:
    """The console page of the user or group an event is about, while it may still exist."""
    if not (event.resource_id and event.tenant_id) or event.kind.endswith(".deleted"):
        return None
    if event.resource_type == "User":
        return url_for("console.user_page", tenant_id=event.tenant_id, user_id=event.resource_id)
    if event.resource_type == "Group":
        return url_for("console.group_page", tenant_id=event.tenant_id, group_id=event.resource_id)
    return None


def recent_failures(tenant: Tenant, limit: int = 10) -> list[tuple[Event, str | None]]:
    """The tenant's last rejected SCIM requests, newest first (401s name no tenant, so they are not here)."""
    rows = events.read(database.get_session(), limit=limit, tenant_id=tenant.id, kind=changes.REQUEST_REJECTED,
                       newest=True)
    return rows[::-1]


def resource_events(tenant: Tenant, resource_id: str, limit: int = 10) -> list[tuple[Event, str | None]]:
    """The newest events about one user or group."""
    where = admins.ActivityFilter(tenant_id=tenant.id, resource_id=resource_id)
    return admins.activity(database.get_session(), where, limit=limit)
