"""The server's front door at `/`: where the SCIM API and the admin console are, for whoever opens the bare host."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from app.http import base_url

bp = Blueprint("home", __name__)


@bp.get("/")
def home() -> Response:
    """The SCIM base URL to give an identity provider, and the console's address."""
    scim = base_url()
    return jsonify(service="scim-server", scim_base_url=scim,
                   console=scim.removesuffix("/scim/v2") + url_for("console.tenants_page"))
