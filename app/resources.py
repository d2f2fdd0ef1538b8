"""SCIM resource endpoints (RFC 7644 §3): one set of views, generic over the resource type.

Each view reads route → auth (blueprint) → parse/validate (scim/) → storage → commit → serialize.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

from flask import Response, current_app, request

from app import activity, database
from app.auth import current_principal
from app.http import base_url, read_json, scim_response
from app.scim_api import bp, registry
from scim import filters, patch, payloads
from scim.errors import InvalidFilter, InvalidValue, NotFound, ScimError
from scim.projection import Projection
from scim.schemas import ResourceType
from scim.search import SearchParams, list_response
from scim.versions import if_none_match_hit
from storage import documents, events, groups, users

_STORAGE: dict[str, ModuleType] = {"User": users, "Group": groups}
_NAMES = {store: name for name, store in _STORAGE.items()}
# A group PATCH answers 204 unless the client asks for attributes: Okta and Entra accept it, and it spares
# rendering a membership of any size (Entra recommends it for groups; the validator reads user bodies).
_PATCH_NO_CONTENT = frozenset({"Group"})


def resolve(endpoint: str) -> tuple[ResourceType, ModuleType]:
    """The resource type served at `/{endpoint}` and its storage module; anything else is a 404."""
    resource_type = registry().by_endpoint(endpoint)
    if resource_type is None or resource_type.name not in _STORAGE:
        raise NotFound(f"No resource endpoint /{endpoint}.")
    return resource_type, _STORAGE[resource_type.name]


def _projection(resource_type: ResourceType, source: Any = None) -> Projection:
    source = request.args if source is None else source
    return Projection.parse(resource_type, source.get("attributes"), source.get("excludedAttributes"))


def _projection_asked() -> bool:
    """Whether the request names `attributes` or `excludedAttributes` (RFC 7644 §3.9); other parameters, such as
    the bare `aadOptscim062020` Entra appends to every request, ask for nothing."""
    return bool(request.args.get("attributes") or request.args.get("excludedAttributes"))


def _respond(
    resource_type: ResourceType, store: ModuleType, stored: Any, status: int = 200, projection: Projection | None = None
) -> Response:
    """One resource with its ETag (RFC 7644 §3.14); a 201 also carries Location (RFC 7644 §3.3)."""
    tenant_id = current_principal().tenant_id
    projection = projection or _projection(resource_type)
    body = store.to_resources(database.reader(), tenant_id, [stored], projection, base_url())[0]
    headers = {"ETag": stored.etag}
    if status == 201:
        headers["Location"] = f"{base_url()}{resource_type.endpoint}/{stored.id}"
    return scim_response(body, status, headers)


def _search(resource_type: ResourceType, store: ModuleType, params: SearchParams) -> Response:
    session, tenant_id = database.reader(), current_principal().tenant_id
    expr = filters.parse_filter(params.filter, resource_type) if params.filter else None
    page = store.search(session, tenant_id, resource_type, expr, params)
    projection = Projection.parse(resource_type, params.attributes, params.excluded_attributes)
    resources = store.to_resources(session, tenant_id, page.items, projection, base_url())
    body = list_response(resources, page.total, None if params.cursor is not None else params.start_index,
                         next_cursor=page.next_cursor, previous_cursor=page.previous_cursor)
    return scim_response(body)


def _search_params(source: Any, from_body: bool) -> SearchParams:
    config = current_app.config
    build = SearchParams.from_body if from_body else SearchParams.from_query
    return build(source, max_results=config["MAX_RESULTS"], default_count=config["DEFAULT_PAGE_SIZE"])


@bp.post("/.search")
def search_root() -> Response:
    """Query every resource type at once (RFC 7644 §3.4.3): index pages over users, then groups.

    A filter naming an attribute a resource type lacks matches none of that type, rather than failing the search.
    Sorting and cursors are per resource type, so the root search pages by startIndex only.
    """
    params = _search_params(read_json(), from_body=True)
    if params.cursor is not None or params.sort_by:
        raise InvalidValue("The root .search pages by startIndex and does not sort; query /Users or /Groups for that.")
    session, tenant_id = database.get_session(), current_principal().tenant_id
    skip, wanted, total, resources = (params.start_index or 1) - 1, params.count, 0, []
    for resource_type in registry().resource_types:
        store = _STORAGE[resource_type.name]
        try:
            expr = filters.parse_filter(params.filter, resource_type) if params.filter else None
        except InvalidFilter:
            continue
        counted = store.search(session, tenant_id, resource_type, expr, dataclasses.replace(params, count=0))
        total += counted.total
        if wanted and skip < counted.total:
            page = store.search(session, tenant_id, resource_type, expr,
                                dataclasses.replace(params, start_index=skip + 1, count=wanted))
            projection = Projection.parse(resource_type, params.attributes, params.excluded_attributes)
            resources += store.to_resources(session, tenant_id, page.items, projection, base_url())
            wanted -= len(page.items)
        skip = max(0, skip - counted.total)
    return scim_response(list_response(resources, total, params.start_index))


@bp.get("/<endpoint>")
def list_resources(endpoint: str) -> Response:
    """Query a collection (RFC 7644 §3.4.2)."""
    resource_type, store = resolve(endpoint)
    return _search(resource_type, store, _search_params(request.args, from_body=False))


@bp.post("/<endpoint>/.search")
def search_resources(endpoint: str) -> Response:
    """Query with POST (RFC 7644 §3.4.3)."""
    resource_type, store = resolve(endpoint)
    return _search(resource_type, store, _search_params(read_json(), from_body=True))


# -- writes, shared by the routes below and by /Bulk (app.bulk): validate and write; the caller commits ---------------


def create(resource_type: ResourceType, store: ModuleType, body: Any) -> Any:
    """Create a resource from a POST body (RFC 7644 §3.3); returns the stored resource."""
    parsed = payloads.parse_resource(body, resource_type)
    hashed = _hashed(parsed.password)
    tenant_id, creation = current_principal().tenant_id, activity.creating(resource_type, parsed)
    connection = database.autocommit_writer() if store is users else None
    if connection is not None:  # PostgreSQL: the user, its emails, its event: one statement
        stored = users.commit_create(connection, tenant_id, documents.new_id(), parsed, creation.entries, **hashed)
        database.committed()
        return stored
    stored = store.create(database.writer(), tenant_id, documents.new_id(), parsed, **hashed)
    creation.record(stored)
    return stored


def _hashed(password: str | None) -> dict[str, str]:
    """A new password's hash as the users store's `password_hash` argument, computed before the write lock is
    taken: scrypt takes ~80 ms, which every other writer would wait for. Nothing without a password (a group never
    has one)."""
    return {} if password is None else {"password_hash": users.hash_password(password)}


def replace(resource_type: ResourceType, store: ModuleType, resource_id: str, body: Any, if_match: str | None) -> Any:
    """Replace a resource with a PUT body (RFC 7644 §3.5.1): the id comes from the URL, read-only attributes in
    the body are ignored, a stale `if_match` is a 412 (§3.14)."""
    parsed = payloads.parse_resource(body, resource_type)
    hashed = _hashed(parsed.password)
    return _write(
        store, resource_id, if_match, lambda current: activity.replacing(resource_type, current, parsed),
        lambda session, tenant_id, current: store.replace(session, tenant_id, current, parsed, **hashed),
        lambda current: (users.replaced(current, parsed), hashed.get("password_hash")),
    )


def modify(resource_type: ResourceType, store: ModuleType, resource_id: str, body: Any, if_match: str | None) -> Any:
    """Apply a PatchOp body (RFC 7644 §3.5.2): all operations or none; a stale `if_match` is a 412 (§3.14)."""
    operations = patch.compile_patch(body, resource_type, resource_id)
    hashed = _hashed(operations.password)
    if store is groups:
        stored = _patch_group_in_one_round_trip(resource_type, resource_id, if_match, operations)
        if stored is not None:
            return stored
    return _write(
        store, resource_id, if_match, lambda current: activity.patching(resource_type, current, operations),
        lambda session, tenant_id, current: store.patch(session, tenant_id, current, operations, **hashed),
        lambda current: (patch.apply(operations, current.doc), hashed.get("password_hash")),
    )


def _write(
    store: ModuleType,
    resource_id: str,
    if_match: str | None,
    watch: Callable[[Any], activity.Update],
    write: Callable[[Any, int, Any], Any],
    user_change: Callable[[users.StoredUser], tuple[dict[str, Any], str | None]],
) -> Any:
    """A PUT or PATCH: `watch` says what the event is diffed against, `write` writes over the locked current
    resource; a user is first tried from the snapshot with `user_change` (its new document and password hash)."""
    if store is users:
        stored = _write_user_from_snapshot(resource_id, if_match, user_change, watch)
        if stored is not None:
            return stored
    session, tenant_id = database.writer(), current_principal().tenant_id
    current = store.get(session, tenant_id, resource_id, for_update=True)
    store.check_version(current, if_match)
    update = watch(current)
    stored = write(session, tenant_id, current)
    update.record(stored)
    return stored


def _write_user_from_snapshot(
    resource_id: str,
    if_match: str | None,
    change: Callable[[users.StoredUser], tuple[dict[str, Any], str | None]],
    watch: Callable[[users.StoredUser], activity.Update],
) -> users.StoredUser | None:
    """PUT or PATCH a user as the request's reads see it, before taking the write lock, which is then held for the
    UPDATE (applied only if the user is still at the version read), its event and COMMIT, not for the read and the
    change: that wait was what a second writer spent its time in. On PostgreSQL the UPDATE, its event and the
    commit are one statement when the user's emails stay as they are (storage.users.commit_if_current). `change`
    gives the new document and password hash, `watch` what the event is diffed against. None when the snapshot
    cannot decide (the user moved on, the If-Match or an operation failed against it): the caller does it all
    again under the lock."""
    tenant_id = current_principal().tenant_id
    current = users.get(database.reader(), tenant_id, resource_id)  # NotFound: no user by that id, locked or not
    try:
        users.check_version(current, if_match)
        doc, password_hash = change(current)
    except ScimError:
        return None
    update = watch(current)
    connection = database.autocommit_writer()
    if connection is not None and users.fits_one_statement(current, doc):
        stored = users.commit_if_current(connection, tenant_id, current, doc, password_hash, update.entries)
        if stored is not None:
            database.committed()
        return stored
    stored = users.save_if_current(database.writer(), tenant_id, current, doc, password_hash)
    if stored is not None:
        update.record(stored)
    return stored


def _patch_group_in_one_round_trip(
    resource_type: ResourceType, resource_id: str, if_match: str | None, operations: patch.Patch
) -> groups.StoredGroup | None:
    """On PostgreSQL, PATCH a group in one round trip that also commits it (storage.groups.commit_patch). Membership
    steps alone need no read first: they apply to the members as they are once the group is locked. Document
    operations and an If-Match apply to the group as the request's reads see it, and the write then happens only if
    it is still at that version. None when this cannot decide (SQLite or a transaction under way, a step that clears
    the membership, no such group, the group moved on, the If-Match or an operation failed against the snapshot):
    the caller does it all in a transaction, under the lock, and answers the error if there is one."""
    connection = database.autocommit_writer()
    if connection is None or not groups.fits_one_round_trip(operations):
        return None
    tenant_id, event = current_principal().tenant_id, activity.group_patch_event(resource_type, resource_id)
    if not operations.document_ops and if_match is None:
        stored = groups.commit_patch(connection, tenant_id, resource_id, operations.member_steps, event)
    else:
        current = groups.get(connection, tenant_id, resource_id)  # NotFound: no group by that id, locked or not
        try:
            groups.check_version(current, if_match)
            doc = patch.apply(operations, current.doc)
        except ScimError:
            return None
        changes = events.group_document_changes(resource_type, current.doc, doc)
        stored = groups.commit_patch(connection, tenant_id, resource_id, operations.member_steps, event, current, doc,
                                     changes)
    if stored is not None:
        database.committed()
    return stored


def remove(store: ModuleType, resource_id: str, if_match: str | None) -> None:
    """Delete a resource (RFC 7644 §3.6); with `if_match`, only at that version (§3.14)."""
    session, tenant_id = database.writer(), current_principal().tenant_id
    if if_match:
        store.check_version(store.get(session, tenant_id, resource_id, for_update=True), if_match)
    store.remove(session, tenant_id, resource_id)
    activity.deleted(_NAMES[store], resource_id)


@bp.post("/<endpoint>")
def create_resource(endpoint: str) -> Response:
    """Create (RFC 7644 §3.3): 201, Location, the full resource."""
    resource_type, store = resolve(endpoint)
    stored = create(resource_type, store, read_json())
    database.commit()
    return _respond(resource_type, store, stored, 201)


@bp.get("/<endpoint>/<resource_id>")
def get_resource(endpoint: str, resource_id: str) -> Response:
    """Read one resource (RFC 7644 §3.4.1); If-None-Match with the current version is a 304."""
    resource_type, store = resolve(endpoint)
    stored = store.get(database.reader(), current_principal().tenant_id, resource_id)
    if if_none_match_hit(request.headers.get("If-None-Match"), stored.etag):
        return Response(status=304, headers={"ETag": stored.etag})
    return _respond(resource_type, store, stored)


@bp.put("/<endpoint>/<resource_id>")
def replace_resource(endpoint: str, resource_id: str) -> Response:
    """Replace (RFC 7644 §3.5.1)."""
    resource_type, store = resolve(endpoint)
    stored = replace(resource_type, store, resource_id, read_json(), request.headers.get("If-Match"))
    database.commit()
    return _respond(resource_type, store, stored)


@bp.patch("/<endpoint>/<resource_id>")
def patch_resource(endpoint: str, resource_id: str) -> Response:
    """Modify (RFC 7644 §3.5.2): 200 with the resource, or 204 when it is not needed."""
    resource_type, store = resolve(endpoint)
    stored = modify(resource_type, store, resource_id, read_json(), request.headers.get("If-Match"))
    database.commit()
    if resource_type.name in _PATCH_NO_CONTENT and not _projection_asked():
        return Response(status=204, headers={"ETag": stored.etag})
    return _respond(resource_type, store, stored)


@bp.delete("/<endpoint>/<resource_id>")
def delete_resource(endpoint: str, resource_id: str) -> Response:
    """Delete (RFC 7644 §3.6): 204, then 404."""
    remove(resolve(endpoint)[1], resource_id, request.headers.get("If-Match"))
    database.commit()
    return Response(status=204)
