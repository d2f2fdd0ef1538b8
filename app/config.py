"""Configuration: defaults, then `SCIM_*` environment variables, then the mapping given to create_app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # default: sqlite:///<instance folder>/scim.db
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "PUBLIC_BASE_URL": None,  # e.g. https://scim.example.com — used for meta.location and Location
    "TRUST_PROXY": 0,  # number of proxies whose X-Forwarded-* headers to trust
    "LOG_LEVEL": "INFO",
    "DEFAULT_PAGE_SIZE": 100,
    "MAX_RESULTS": 1000,
}


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SCIM")
    if overrides:
        app.config.from_mapping(overrides)
    if not app.config["DATABASE_URL"]:
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "scim.db")
