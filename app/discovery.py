"""Discovery endpoints (RFC 7644 §4): generated from the schema data and the configured capabilities."""

from __future__ import annotations

from flask import Response, current_app, request

from app import bulk
from app.http import base_url, scim_response
from app.scim_api import bp, registry
from scim import discovery
from scim.errors import Forbidden, MethodNotAllowed

_READ_ONLY = ["POST", "PUT", "PATCH", "DELETE"]


def capabilities() -> discovery.Capabilities:
    """What this server supports, exactly: a flag is on only when the feature works."""
    config = current_app.config
    return discovery.Capabilities(
        patch=True,
        bulk=(True, *bulk.limits()),
        filter=(True, config["MAX_RESULTS"]),
        change_password=True,
        sort=True,
        etag=True,
        # RFC 9865: keyset cursors (storage/query.py) beside startIndex; cursors do not expire.
        pagination=discovery.Pagination(
            cursor=True,
            index=True,
            default_method="index",
            default_page_size=config["DEFAULT_PAGE_SIZE"],
            max_page_size=config["MAX_RESULTS"],
        ),
    )


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return scim_response(discovery.service_provider_config(capabilities(), base_url()))


def _no_filter() -> None:
    """Per RFC 7644 §4, discovery lists take no filter: a 403."""
    if request.args.get("filter"):
        raise Forbidden("Filtering is not supported on discovery endpoints (RFC 7644 §4).")


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    _no_filter()
    return scim_response(discovery.resource_types_list(registry(), base_url()))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    return scim_response(discovery.resource_type(registry(), name, base_url()))


@bp.get("/Schemas")
def schemas() -> Response:
    _no_filter()
    return scim_response(discovery.schemas_list(registry(), base_url()))


@bp.get("/Schemas/<urn>")
def schema(urn: str) -> Response:
    return scim_response(discovery.schema(registry(), urn, base_url()))


@bp.route("/ServiceProviderConfig", methods=_READ_ONLY)
@bp.route("/ResourceTypes", methods=_READ_ONLY)
@bp.route("/ResourceTypes/<name>", methods=_READ_ONLY)
@bp.route("/Schemas", methods=_READ_ONLY)
@bp.route("/Schemas/<urn>", methods=_READ_ONLY)
def read_only(**_kwargs: str) -> Response:
    """Per RFC 7644 §4 the discovery endpoints are read-only."""
    raise MethodNotAllowed("Discovery endpoints only answer GET.", headers={"Allow": "GET, HEAD"})
