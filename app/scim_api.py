"""The `scim` blueprint at /scim/v2: authentication for every route, and SCIM errors for unknown paths (404) and
methods a known endpoint does not serve (405 with Allow)."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from app import database
from app.auth import current_principal, token_auth
from scim.errors import MethodNotAllowed, NotFound
from scim.schemas import Registry, ResourceType
from storage.stores import STORES, ResourceStore
from storage.tenant_schemas import RegistryCache

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@bp.before_request
@token_auth.login_required
def _authenticate() -> None:
    """IdPs send the token on every call, discovery included (RFC 7644 §2)."""


@bp.route("/<path:_path>", methods=list(_METHODS))
def unknown(_path: str) -> None:
    allowed = _allowed_methods()
    if allowed:
        raise MethodNotAllowed(f"{request.method} is not supported at this endpoint.",
                               headers={"Allow": ", ".join(allowed)})
    raise NotFound("No such SCIM endpoint.")


def _allowed_methods() -> list[str]:
    """The methods the API's other routes serve at the request's URL (none: the URL is unknown). Only a request that
    no route serves gets here, so the matching costs nothing on the way of any other."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, args = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint == request.endpoint:
            continue
        if "endpoint" in args:  # a resource route: served only where the tenant has that resource type
            try:
                resolve(args["endpoint"])
            except NotFound:
                continue
        allowed.append(method)
    return allowed


def resolve(endpoint: str) -> tuple[ResourceType, ResourceStore]:
    """The resource type served at `/{endpoint}` and its store; anything else is a 404."""
    resource_type = registry().by_endpoint(endpoint)
    if resource_type is None or resource_type.name not in STORES:
        raise NotFound(f"No resource endpoint /{endpoint}.")
    return resource_type, STORES[resource_type.name]


def registry() -> Registry:
    """The resource types and schemas the request's tenant sees: the built-ins plus its own extensions (RFC 7643 §6).

    The version read with the token tells when this worker's cached copy is stale (storage/tenant_schemas.py).
    """
    principal = current_principal()
    return _registries().registry(database.connection(), principal.tenant_id, principal.schemas_version)


def _registries() -> RegistryCache:
    """This app's cache: each worker process has its own."""
    extensions = current_app.extensions
    if "scim.registries" not in extensions:
        extensions["scim.registries"] = RegistryCache()
    return extensions["scim.registries"]
