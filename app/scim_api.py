"""The `scim` blueprint at /scim/v2: authentication for every route, and a SCIM 404 for unknown paths."""

from __future__ import annotations

from flask import Blueprint, current_app

from app import database
from app.auth import current_principal, token_auth
from scim.errors import NotFound
from scim.schemas import Registry
from storage.tenant_schemas import RegistryCache

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")


@bp.before_request
@token_auth.login_required
def _authenticate() -> None:
    """IdPs send the token on every call, discovery included (RFC 7644 §2)."""


@bp.route("/<path:_path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(_path: str) -> None:
    raise NotFound("No such SCIM endpoint.")


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
