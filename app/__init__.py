"""The Flask application: `create_app()` wires configuration, database, auth, error rendering and blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app import logs, request_ids
from app.http import check_body_size


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides defaults and SCIM_* environment variables."""
    app = Flask(__name__, instance_relative_config=True)
    from app import config as app_config

    app_config.load(app, config)
    if int(app.config["TRUST_PROXY"]):
        hops = int(app.config["TRUST_PROXY"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]

    from app import (  # noqa: F401 (add routes)
        activity,
        admin_api,
        admin_guard,
        admin_webhooks,
        bulk,
        capture_api,
        console,
        database,
        discovery,
        errors,
        health,
        journal,
        openapi,
        resources,
        scim_api,
        setup_links_api,
        setup_page,
    )

    request_ids.init_app(app)  # first: every other hook and log line has the request's id
    logs.init_app(app)
    database.init_app(app)
    if app.config["METRICS_TOKEN"]:
        from app import metrics  # only now: under gunicorn, prometheus-client reads its directory as it is imported

        metrics.init_app(app)
    errors.register(app)
    app.before_request(_limit_body)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(scim_api.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(setup_links_api.bp)
    setup_page.init_app(app)
    app.register_blueprint(admin_guard.bp)
    app.register_blueprint(admin_webhooks.bp)
    activity.init_app(app)
    journal.init_app(app)
    console.init_app(app)
    return app


def _limit_body() -> None:
    """Refuse an announced oversized body before any work (werkzeug only checks when the body is read)."""
    check_body_size(request.content_length)
