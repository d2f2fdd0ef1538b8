"""SCIM resource endpoints (RFC 7644 §3): one set of views, generic over the resource type.

Each view reads route → auth (blueprint) → parse/validate (scim/) → one store call (storage.stores) → commit →
respond. The write functions below are shared by the routes and by /Bulk (app.bulk), which commits once for all of
its operations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Response, current_app, request

from app import database
from app.activity import origin
from app.auth import current_principal
from app.http import base_url, no_content, read_json, scim_response
from app.journal import noted
from app.scim_api import bp, registry, resolve
from scim import filters, patch, payloads
from scim.errors import InvalidFilter, InvalidValue
from scim.projection import Projection
from scim.schemas import ResourceType
from scim.search import SearchParams, list_response
from scim.versions import if_none_match_hit
from storage.stores import STORES, ResourceStore, Stored

# A group PATCH answers 204 unless the client asks for attributes: Okta and Entra accept it, and it spares
# rendering a membership of any size (Entra recommends it for groups; the validator reads user bodies).
_PATCH_NO_CONTENT = frozenset({"Group"})


def _tenant_id() -> int:
    return current_principal().tenant_id


def _projection_asked() -> bool:
    """Whether the request names `attributes` or `excludedAttributes` (RFC 7644 §3.9); other parameters, such as
    the bare `aadOptscim062020` Entra appends to every request, ask for nothing."""
    return bool(request.args.get("attributes") or request.args.get("excludedAttributes"))


def _respond(resource_type: ResourceType, store: ResourceStore, stored: Stored, status: int = 200) -> Response:
    """One resource with its ETag (RFC 7644 §3.14); a 201 also carries Location (RFC 7644 §3.3)."""
    projection = Projection.parse(resource_type, request.args.get("attributes"),
                                  request.args.get("excludedAttributes"))
    body = store.to_resources(database.connection(), _tenant_id(), [stored], projection, base_url())[0]
    headers = {"ETag": stored.etag}
    if status == 201:
        headers["Location"] = f"{base_url()}{resource_type.endpoint}/{stored.id}"
    return scim_response(body, status, headers)


def _search(resource_type: ResourceType, store: ResourceStore, params: SearchParams) -> Response:
    connection, tenant_id = database.connection(), _tenant_id()
    expr = filters.parse_filter(params.filter, resource_type) if params.filter else None
    page = store.search(connection, tenant_id, resource_type, expr, params)
    projection = Projection.parse(resource_type, params.attributes, params.excluded_attributes)
    resources = store.to_resources(connection, tenant_id, page.items, projection, base_url())
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

    A filter naming an attribute a resource type lacks matches none of that type, rather than failing the search;
    one that no resource type accepts is a 400 invalidFilter.
    Sorting and cursors are per resource type, so the root search pages by startIndex only.
    """
    params = _search_params(read_json(), from_body=True)
    if params.cursor is not None or params.sort_by:
        raise InvalidValue("The root .search pages by startIndex and does not sort; query /Users or /Groups for that.")
    searched = _root_filters(params.filter)
    connection, tenant_id = database.connection(), _tenant_id()
    skip, wanted, total, resources = (params.start_index or 1) - 1, params.count, 0, []
    for resource_type, expr in searched:
        store = STORES[resource_type.name]
        counted = store.search(connection, tenant_id, resource_type, expr, dataclasses.replace(params, count=0))
        total += counted.total
        if wanted and skip < counted.total:
            page = store.search(connection, tenant_id, resource_type, expr,
                                dataclasses.replace(params, start_index=skip + 1, count=wanted))
            projection = Projection.parse(resource_type, params.attributes, params.excluded_attributes)
            resources += store.to_resources(connection, tenant_id, page.items, projection, base_url())
            wanted -= len(page.items)
        skip = max(0, skip - counted.total)
    return scim_response(list_response(resources, total, params.start_index))


def _root_filters(text: str | None) -> list[tuple[ResourceType, filters.Expr | None]]:
    """The resource types a root search spans, each with its filter; a filter valid for none of them is the first
    type's 400 invalidFilter, as `/Users/.search` would answer."""
    searched, refused = [], []
    for resource_type in registry().resource_types:
        try:
            searched.append((resource_type, filters.parse_filter(text, resource_type) if text else None))
        except InvalidFilter as error:
            refused.append(error)
    if refused and not searched:
        raise refused[0]
    return searched


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


# -- writes, shared by the routes below and by /Bulk: parse, then one store call; the caller commits ----------------


def create(resource_type: ResourceType, store: ResourceStore, body: Any) -> Stored:
    """Create a resource from a POST body (RFC 7644 §3.3)."""
    parsed = payloads.parse_resource(body, resource_type)
    return noted(store.create(database.connection(), _tenant_id(), resource_type, parsed, origin()))


def replace(
    resource_type: ResourceType, store: ResourceStore, resource_id: str, body: Any, if_match: str | None
) -> Stored:
    """Replace a resource with a PUT body (RFC 7644 §3.5.1)."""
    parsed = payloads.parse_resource(body, resource_type)
    return noted(store.replace(database.connection(), _tenant_id(), resource_type, resource_id, parsed, if_match,
                               origin()))


def modify(
    resource_type: ResourceType, store: ResourceStore, resource_id: str, body: Any, if_match: str | None
) -> Stored:
    """Apply a PatchOp body (RFC 7644 §3.5.2)."""
    operations = patch.compile_patch(body, resource_type, resource_id)
    return noted(store.patch(database.connection(), _tenant_id(), resource_type, resource_id, operations, if_match,
                             origin()))


def remove(store: ResourceStore, resource_id: str, if_match: str | None) -> None:
    """Delete a resource (RFC 7644 §3.6)."""
    store.delete(database.connection(), _tenant_id(), resource_id, if_match, origin())


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
    stored = store.get(database.connection(), _tenant_id(), resource_id)
    if if_none_match_hit(request.headers.get("If-None-Match"), stored.etag):
        return no_content(304, {"ETag": stored.etag})
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
        return no_content(204, {"ETag": stored.etag})
    return _respond(resource_type, store, stored)


@bp.delete("/<endpoint>/<resource_id>")
def delete_resource(endpoint: str, resource_id: str) -> Response:
    """Delete (RFC 7644 §3.6): 204, then 404."""
    remove(resolve(endpoint)[1], resource_id, request.headers.get("If-Match"))
    database.commit()
    return no_content(204)
