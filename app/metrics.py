"""Prometheus metrics at /metrics, served only when SCIM_METRICS_TOKEN is set and only to the bearer of that token;
anyone else gets the 404 of a path that does not exist. Unset, nothing is collected.

Per request, one counter and one histogram observation (two more for a 401), from values the request already has:
the route template (Flask's URL rule, never the raw path, so ids never become series), the method, the status and
the identity provider named by the User-Agent. The pool gauge moves on the pool's own checkout and checkin events;
the events counter, and the guard's holds and releases, on storage.events' writes. Only a scrape reads the database:
one query for the tenants held now (a hold is state there, made and released by any process: a deliverer, another
worker, the CLI), and while the database is unavailable that gauge is left out and the rest still served.

Under gunicorn the workers share their values through files (prometheus-client's multiprocess mode): the directory
is made for each server start and removed at its exit, and an exited worker's gauge is dropped
(app/gunicorn_hooks.py). Imported only when metrics are on, after that directory is set.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from app import database, request_ids
from scim import changes, idps
from storage import events, guard
from storage.faults import unavailable

log = logging.getLogger(__name__)

REQUESTS = Counter("scim_http_requests", "HTTP requests answered, by route template, method, status and identity "
                   "provider (from the User-Agent).", ["route", "method", "status", "idp"])
LATENCY = Histogram("scim_http_request_duration_seconds", "Time from the start of a request's handling to its "
                    "response, by route template and method.", ["route", "method"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
AUTH_FAILURES = Counter("scim_auth_failures", "Requests refused for a missing, wrong, expired or revoked credential "
                        "(401), by API (scim, admin_api).", ["api"])
EVENTS_WRITTEN = Counter("scim_events_written", "Activity-log events written, by kind.", ["kind"])
GUARD_HOLDS = Counter("scim_guard_holds", "Holds the mass-deprovisioning guard made (a tenant's deliveries stopped), "
                      "counted by the process whose read tripped it.")
GUARD_RELEASES = Counter("scim_guard_releases", "Holds released, counted by the process that released them.")
CONNECTIONS_CHECKED_OUT = Gauge("scim_db_connections_checked_out", "Database connections the workers have checked "
                                "out of their pools (a worker keeps its reading connection between requests).",
                                multiprocess_mode="livesum")
HELD_TENANTS = "scim_guard_held_tenants"  # read from the database at each scrape (_Read)

UNMATCHED = "<unmatched>"  # the route of a request no URL rule matched
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other counts as "other"


def init_app(app: Flask) -> None:
    """With SCIM_METRICS_TOKEN set: the /metrics route, the per-request observations, the pool gauge on this app's
    engine and the events counter."""
    # Flask reads an environment value as JSON where it parses: a token of digits arrives as a number.
    app.config["METRICS_TOKEN"] = str(app.config["METRICS_TOKEN"])
    app.add_url_rule("/metrics", "metrics", _metrics)
    app.after_request(_observe)
    _watch_pool(app.extensions["scim.engine"])
    events.observe(_event_written)


@functools.lru_cache(maxsize=256)
def identity_provider(user_agent: str | None) -> str:
    """okta, entra, onelogin, jumpcloud, ping (scim.idps), or other for a client that names none, from a
    User-Agent."""
    return idps.by_user_agent(user_agent) or "other"


def _observe(response: Response) -> Response:
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = request.method if request.method in _METHODS else "other"
    status = response.status_code
    REQUESTS.labels(route, method, str(status), identity_provider(request.headers.get("User-Agent"))).inc()
    LATENCY.labels(route, method).observe(time.perf_counter() - request_ids.started())
    if status == 401:
        AUTH_FAILURES.labels(request.blueprint or "other").inc()
    return response


def _metrics() -> Response:
    credentials = request.authorization
    given = credentials.token if credentials is not None and credentials.type == "bearer" else None
    if not given or not hmac.compare_digest(given.encode(), current_app.config["METRICS_TOKEN"].encode()):
        raise NotFound()  # as if there were no such path: the endpoint's existence is not told
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # under gunicorn: every worker's values, from their files
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    body = generate_latest(registry) + generate_latest(_Read())
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Read(Collector):
    """The series a scrape reads from the database: the tenants whose deliveries are held now."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            held = guard.held_tenants(database.get_session())
        except SQLAlchemyError as error:
            if not unavailable(error):
                raise
            log.warning("metrics: %s left out, the database is unavailable: %s", HELD_TENANTS,
                        getattr(error, "orig", None) or error)
            return []
        return [GaugeMetricFamily(HELD_TENANTS, "Tenants whose deliveries the mass-deprovisioning guard holds now "
                                  "(an open hold), read from the database at each scrape.", value=len(held))]


def _watch_pool(engine: Engine) -> None:
    event.listen(engine, "checkout", _checked_out)
    event.listen(engine, "checkin", _checked_in)


def _checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    CONNECTIONS_CHECKED_OUT.inc()


def _checked_in(_dbapi_connection: Any, _record: Any) -> None:
    CONNECTIONS_CHECKED_OUT.dec()


def _event_written(kind: str) -> None:
    EVENTS_WRITTEN.labels(kind).inc()
    if kind == changes.TENANT_HELD:
        GUARD_HOLDS.inc()
    elif kind == changes.TENANT_RELEASED:
        GUARD_RELEASES.inc()
