"""The `scim` blueprint at /scim/v2: authentication for every route, and a SCIM 404 for unknown paths."""

from __future__ import annotations

from flask import Blueprint

from app.auth import token_auth
from scim.errors import NotFound
from scim.schemas import DEFAULT_REGISTRY, Registry

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")


@bp.before_request
@token_auth.login_required
def _authenticate() -> None:
    """IdPs send the token on every call, discovery included (RFC 7644 §2)."""


@bp.route("/<path:_path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(_path: str) -> None:
    raise NotFound("No such SCIM endpoint.")


def registry() -> Registry:
    """The resource types and schemas the request's tenant sees."""
    return DEFAULT_REGISTRY
