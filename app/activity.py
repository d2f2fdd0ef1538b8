"""The activity log, from the request: each SCIM write and each failed SCIM request becomes events (storage.events).

Writes. The write functions of app.resources (shared by the routes and /Bulk) call `creating(...)`,
`patching(...)` / `replacing(...)` then `.record(stored)`, or `deleted(...)`, before the caller commits. The events
go through the request's session, into the transaction (or Bulk operation's savepoint) of the change they
describe: the change and its events commit together or not at all. (A user write that PostgreSQL makes in one
statement takes its events as rows, `.entries(stored)`, and inserts them in that statement; a group PATCH that it
makes in one round trip takes `group_patch_event(...)` and makes its events in SQL.) An event names the token (its
id, never its secret), the client's address (after ProxyFix, see SCIM_TRUST_PROXY) and User-Agent, the
request's method and path, and the status of the write it describes (201 created, 200 replaced or modified, 204
deleted, as RFC 7644 §3.3-§3.6 define them; a group PATCH answered 204 No Content, or an operation of a Bulk
request, still says 200).

Failures. `init_app` adds an after-request hook: any response of 400 or more to a request under the SCIM API (401s
included, whose tenant is unknown) is logged as `request.rejected` with its status, scimType and detail, read back
from the SCIM Error body (RFC 7644 §3.12) whichever handler rendered it. The request's own transaction is rolled
back first and the event is written in a transaction of its own. Recording can fail (the database may be why the
request failed): that is logged and never replaces the error the client gets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Flask, Response, current_app, g, request

from app import database
from scim.patch import Patch
from scim.payloads import ParsedResource
from scim.schemas import DEFAULT_REGISTRY, ResourceType
from storage import events
from storage.tokens import Principal

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Log failed SCIM requests, whichever handler rendered them."""
    app.after_request(_record_failure)


# -- writes ---------------------------------------------------------------------------------------------------------


def record_change(
    kind: str, resource_type: str, resource_id: str, diff: dict[str, Any] | None = None, status: int = 200
) -> None:
    """Stage one event in the request's transaction; it is written when the caller commits."""
    events.stage(database.reader(), events.entry(_origin(), kind, status, resource_type, resource_id, diff))


def deleted(resource_type_name: str, resource_id: str) -> None:
    """DELETE (RFC 7644 §3.6): `user.deleted` / `group.deleted`."""
    record_change(f"{resource_type_name.lower()}.deleted", resource_type_name, resource_id, status=204)


@dataclass(frozen=True)
class Write:
    """A POST, PUT or PATCH under way; once written, its events are staged (`record`) or handed to a write that
    inserts them itself (`entries`: storage.users' one-statement writes on PostgreSQL)."""

    resource_type: ResourceType
    status: ClassVar[int] = 200

    def record(self, stored: Any) -> None:
        """Stage the events of the write that produced `stored` (a user's is one, a group's one per change)."""
        _record(self.resource_type, stored.id, self._changes(stored), self.status)

    def entries(self, stored: Any) -> list[dict[str, Any]]:
        """The events of the write that produces `stored`, as rows (storage.events.entry)."""
        origin = _origin()
        return [events.entry(origin, change.kind, self.status, self.resource_type.name, stored.id, change.diff)
                for change in self._changes(stored)]

    def _changes(self, stored: Any) -> list[events.Change]:
        raise NotImplementedError


@dataclass(frozen=True)
class Creation(Write):
    """A POST (RFC 7644 §3.3): `user.created` / `group.created`, with the members the group really got (what its
    write reports, storage.groups)."""

    parsed: ParsedResource
    status: ClassVar[int] = 201

    def _changes(self, stored: Any) -> list[events.Change]:
        members = stored.member_delta if self.parsed.members else None
        return events.changes_on_create(self.resource_type, stored.doc, self.parsed.password is not None, members)


@dataclass(frozen=True)
class Update(Write):
    """A PUT or PATCH: the resource as it was, to diff it after, and whether it writes a group's members (whose
    delta is what the write reports: the rows really inserted and deleted)."""

    before: Any
    password_set: bool
    writes_members: bool = False

    def _changes(self, stored: Any) -> list[events.Change]:
        members = stored.member_delta if self.writes_members else None
        return events.changes_on_update(self.resource_type, self.before.doc, stored.doc, self.password_set, members)


def creating(resource_type: ResourceType, parsed: ParsedResource) -> Creation:
    """Before a POST (RFC 7644 §3.3)."""
    return Creation(resource_type, parsed)


def patching(resource_type: ResourceType, current: Any, operations: Patch) -> Update:
    """Before a PATCH (RFC 7644 §3.5.2)."""
    return Update(resource_type, current, operations.password is not None, bool(operations.member_steps))


def group_patch_event(resource_type: ResourceType, group_id: str) -> dict[str, Any]:
    """For a group PATCH that makes its events itself (storage.groups.commit_patch): the row they share but for kind
    and diff."""
    return events.entry(_origin(), events.GROUP_UPDATED, Update.status, resource_type.name, group_id)


def replacing(resource_type: ResourceType, current: Any, parsed: ParsedResource) -> Update:
    """Before a PUT (RFC 7644 §3.5.1): given `members` replace the whole membership."""
    return Update(resource_type, current, parsed.password is not None, parsed.members is not None)


def _record(resource_type: ResourceType, resource_id: str, changes: list[events.Change], status: int) -> None:
    for change in changes:
        record_change(change.kind, resource_type.name, resource_id, change.diff, status)


# -- failures -------------------------------------------------------------------------------------------------------


def _record_failure(response: Response) -> Response:
    if response.status_code >= 400 and request.path.startswith(current_app.blueprints["scim"].url_prefix + "/"):
        _record_rejected(response)
    return response


def _record_rejected(response: Response) -> None:
    body = response.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    resource_type, resource_id = _requested_resource()
    try:
        database.reader().rollback()  # the request's own work is void (and on SQLite its write lock is released)
        rejected = events.entry(_origin(), events.REQUEST_REJECTED, response.status_code, resource_type, resource_id,
                                scim_type=body.get("scimType"), detail=body.get("detail"))
        events.stage(database.writer(), rejected)
        database.commit()
    except Exception:
        # The teardown rolls the session back; the client still gets its own error.
        log.exception("could not log the rejected request %s %s (%s)", request.method, request.path,
                      response.status_code)


def _requested_resource() -> tuple[str | None, str | None]:
    """The resource type and id the URL names, when it names them (`/Users/{id}`)."""
    args = request.view_args or {}
    resource_type = DEFAULT_REGISTRY.by_endpoint(args["endpoint"]) if "endpoint" in args else None
    return (resource_type.name if resource_type else None), args.get("resource_id")


# -- the request ----------------------------------------------------------------------------------------------------


def _origin() -> events.Origin:
    principal: Principal | None = g.get("principal")
    return events.Origin(
        method=request.method,
        path=request.path,
        tenant_id=principal.tenant_id if principal else None,
        token_id=principal.token_id if principal else None,
        client_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
