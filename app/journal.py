"""The request journal from the request: after each response, a watched tenant's request is recorded with the facts
its diagnosis needs (scim.diagnoses) and, while its traffic is captured, its redacted headers and bodies
(scim.capture); storage.journal keeps the rows.

The tenant comes from the request's principal, whose token lookup already read whether the tenant is watched, so an
unwatched tenant's request costs a comparison here. Two kinds of failed request are attributed to a tenant only for
the journal, and only if that tenant is watched: a 401 whose token exists but was sent without "Bearer ", or was
revoked, or has expired (`note_refused`, called by app/auth.py); and a SCIM request refused before authentication
ran that carries a live token (a 404 at a SCIM endpoint outside /scim/v2, a base URL without it; a 413). Writing
the row can fail: that is logged, never the client's problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from app import database
from app.activity import UNAVAILABLE
from scim import capture
from scim.changes import capped_ids
from scim.idps import has_entra_flag, is_legacy_entra_patch
from storage import journal, tokens
from storage.group_rows import StoredGroup
from storage.models import utcnow
from storage.tokens import Principal, Refused

log = logging.getLogger(__name__)

Written = TypeVar("Written")

# The last path segments of SCIM requests: a 404 at one of them outside /scim/v2 is an IdP with the wrong base URL.
_SCIM_ENDPOINTS = frozenset({"users", "groups", "serviceproviderconfig", "schemas", "resourcetypes", "bulk", ".search"})
_REFUSED = "scim.journal.refused"
_SKIPPED = "scim.journal.skipped"


@dataclass(frozen=True)
class _Target:
    """The tenant a request is journaled for, and what is known about it before the response."""

    tenant_id: int
    capturing: bool
    facts: dict[str, Any] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    app.after_request(_journal)


def note_refused() -> None:
    """Authentication failed: if the request's token exists and its tenant is watched, say why for the journal."""
    secret, bearer_missing = _credentials()
    found = tokens.identify(database.connection(), secret) if secret else None
    if found is None or not _watched(found):
        return
    facts: dict[str, Any] = {"bearer_missing": True} if bearer_missing else {}
    if isinstance(found, Refused):
        facts["token"] = found.reason
    g.setdefault(_REFUSED, _Target(found.tenant_id, journal.capturing(found.capture_until, utcnow()), facts))


def _credentials() -> tuple[str, bool]:
    """The token the Authorization header carries, and whether it came without "Bearer " (then the whole value is
    taken as the token, as an admin pastes it)."""
    header = request.headers.get("Authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip(), False
    return header, bool(header)


def noted(stored: Written) -> Written:
    """A write's result, its skipped group members noted for the journal (a group write applies the members it
    knows and skips the others)."""
    if isinstance(stored, StoredGroup) and stored.member_delta.skipped:
        g.setdefault(_SKIPPED, []).extend(stored.member_delta.skipped)
    return stored


def _watched(who: Principal | Refused) -> bool:
    return journal.watched(who.watch_until, who.capture_until, utcnow())


def _journal(response: Response) -> Response:
    principal: Principal | None = g.get("principal")
    if principal is not None and principal.watch_until is None and principal.capture_until is None:
        return response  # the request path of an unwatched tenant: nothing more
    if response.status_code == UNAVAILABLE:
        return response  # the database could not be used: the row would wait for it again, and fail
    try:
        target = _target(principal, response)
        if target is not None:
            _record(target, response)
    except Exception:
        log.exception("could not journal the request %s %s (%s)", request.method, request.path, response.status_code)
    return response


def _target(principal: Principal | None, response: Response) -> _Target | None:
    if principal is not None:
        now = utcnow()
        if not journal.watched(principal.watch_until, principal.capture_until, now):
            return None
        return _Target(principal.tenant_id, journal.capturing(principal.capture_until, now))
    if _REFUSED in g:
        return g.get(_REFUSED)
    if response.status_code >= 400 and response.status_code not in (401, 429) and _scim_request():
        return _unauthenticated()
    return None


def _scim_request() -> bool:
    """Whether the request is under the SCIM API, or names a SCIM endpoint outside it (a base URL without
    /scim/v2)."""
    if request.blueprint is not None:  # a route's: the SCIM API's own, or the console's and the admin API's
        return request.blueprint == "scim"
    return request.path.rstrip("/").rsplit("/", 1)[-1].lower() in _SCIM_ENDPOINTS


def _unauthenticated() -> _Target | None:
    """A SCIM request refused before authentication (a 404 outside /scim/v2, a 413 for its announced size): its
    tenant, if its token is live and the tenant watched."""
    secret, bearer_missing = _credentials()
    found = tokens.identify(database.connection(), secret) if secret else None
    if not isinstance(found, Principal) or not _watched(found):
        return None
    return _Target(found.tenant_id, journal.capturing(found.capture_until, utcnow()),
                   {"bearer_missing": True} if bearer_missing else {})


def _record(target: _Target, response: Response) -> None:
    facts = dict(target.facts)
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            facts.update({name: body[key] for name, key in (("scim_type", "scimType"), ("detail", "detail"))
                          if isinstance(body.get(key), str)})
    if (request.method == "PATCH" and not has_entra_flag(request.query_string.decode("latin-1"))
            and is_legacy_entra_patch(request.get_json(silent=True))):
        facts["legacy_patch"] = True
    skipped = g.get(_SKIPPED)
    if skipped:
        facts["skipped"] = capped_ids(set(skipped))
    path = request.full_path.rstrip("?") if request.query_string else request.path
    captured = _captured(response) if target.capturing else None
    row = journal.entry(target.tenant_id, request.method, path, response.status_code,
                        request.headers.get("User-Agent"), facts, captured)
    journal.record(database.connection(), row)


def _captured(response: Response) -> dict[str, Any]:
    """The request and the response as capture keeps them."""
    try:
        sent_body = capture.body(request.get_data(cache=True))
    except HTTPException:  # a body over the size limit, refused unread: only its size is known
        sent_body = {"text": "", "truncated": True, "size": request.content_length}
    sent = {"headers": capture.headers(request.headers.items()), **sent_body}
    answer = {"headers": capture.headers(response.headers.items())}
    if not response.direct_passthrough:
        answer.update(capture.body(response.get_data()))
    return {"request": sent, "response": answer}
