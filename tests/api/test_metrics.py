"""Prometheus metrics at /metrics: only for the bearer of SCIM_METRICS_TOKEN, and the series a request adds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from scim import changes
from tests.api.test_activity import GROUP_URN, OKTA, PATCH_URN, USER_URN
from tests.api.test_database_faults import unreachable_url
from tests.live import REPO

METRICS_TOKEN = "metrics-secret-0123"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
REQUESTS = "scim_http_requests_total"
HELD_TENANTS = "scim_guard_held_tenants"


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "METRICS_TOKEN": METRICS_TOKEN})
    yield app
    app.extensions["scim.engine"].dispose()


def samples(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample /metrics shows, by name and labels."""
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_answer_only_the_bearer_of_the_token(client: FlaskClient, auth: dict) -> None:
    absent = client.get("/no-such-path")
    assert absent.status_code == 404
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {METRICS_TOKEN}"},
                    auth):  # a SCIM token is not the metrics token
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.get_json(force=True) == absent.get_json(force=True)
    assert client.get("/metrics", headers=SCRAPE).status_code == 200


def test_without_a_token_there_is_no_metrics_endpoint(db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    try:
        for headers in ({}, SCRAPE):
            assert app.test_client().get("/metrics", headers=headers).status_code == 404
    finally:
        app.extensions["scim.engine"].dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_without_the_database_the_held_tenants_are_left_out_and_the_rest_is_served(backend: str,
                                                                                   tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": unreachable_url(backend, tmp_path), "TESTING": True,
                      "METRICS_TOKEN": METRICS_TOKEN})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    found = samples(client)
    assert value(found, REQUESTS, route="/healthz", method="GET", status="200", idp="other") >= 1
    assert not any(name == HELD_TENANTS for name, _labels in found)


def test_a_scim_request_is_counted_by_route_template_method_status_and_idp(client: FlaskClient, auth: dict) -> None:
    created = client.post("/scim/v2/Users", headers={**auth, "User-Agent": OKTA},
                          json={"schemas": [USER_URN], "userName": "ann@example.com"}).get_json()
    route = "/scim/v2/<endpoint>/<resource_id>"
    labels = {"route": route, "method": "GET", "status": "200", "idp": "okta"}
    before = samples(client)
    assert client.get(f"/scim/v2/Users/{created['id']}", headers={**auth, "User-Agent": OKTA}).status_code == 200
    after = samples(client)
    assert value(after, REQUESTS, **labels) == value(before, REQUESTS, **labels) + 1
    latency = "scim_http_request_duration_seconds_count"
    assert value(after, latency, route=route, method="GET") == value(before, latency, route=route, method="GET") + 1
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert created["id"] not in text  # ids never become series
    assert value(after, "scim_db_connections_checked_out") >= 1  # the request's reading connection, kept


def test_identity_providers_are_told_apart_by_user_agent(client: FlaskClient, auth: dict) -> None:
    agents = {"Okta SCIM Client 1.0.0": "okta", "Microsoft.Azure.ActiveDirectory.Provisioning/1.0": "entra",
              "OneLogin SCIM": "onelogin", "JumpCloud SCIM Connector": "jumpcloud", "PingFederate": "ping",
              "python-httpx/0.27": "other", "Shopping-Bot/1.0": "other"}
    route = "/scim/v2/ServiceProviderConfig"
    before = samples(client)
    for agent in agents:
        assert client.get(route, headers={**auth, "User-Agent": agent}).status_code == 200
    after = samples(client)
    for idp in set(agents.values()):
        labels = {"route": route, "method": "GET", "status": "200", "idp": idp}
        expected = sum(1 for found in agents.values() if found == idp)
        assert value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels) == expected, idp


def test_failed_authentications_are_counted_by_api(client: FlaskClient) -> None:
    before = samples(client)
    assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/admin/v1/events").status_code == 401
    after = samples(client)
    for api in ("scim", "admin_api"):
        name = "scim_auth_failures_total"
        assert value(after, name, api=api) == value(before, name, api=api) + 1
    labels = {"route": "/scim/v2/<endpoint>", "method": "GET", "status": "401", "idp": "other"}
    assert value(after, REQUESTS, **labels) == value(before, REQUESTS, **labels) + 1


def test_events_written_are_counted_by_kind(client: FlaskClient, auth: dict) -> None:
    """Every way an event is written: staged and inserted at commit, or carried by the write's one statement
    (PostgreSQL), a group PATCH's built in SQL, and a rejected request's."""
    written = "scim_events_written_total"
    before = samples(client)
    user = client.post("/scim/v2/Users", headers=auth, json={"schemas": [USER_URN], "userName": "bo@example.com"})
    user_id = user.get_json()["id"]
    group = client.post("/scim/v2/Groups", headers=auth, json={"schemas": [GROUP_URN], "displayName": "Eng"})
    patch = {"schemas": [PATCH_URN], "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}]}
    assert client.patch(f"/scim/v2/Groups/{group.get_json()['id']}", headers=auth, json=patch).status_code in (200, 204)
    deactivate = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert client.patch(f"/scim/v2/Users/{user_id}", headers=auth, json=deactivate).status_code == 200
    assert client.get("/scim/v2/Users/missing", headers=auth).status_code == 404
    after = samples(client)
    for kind in (changes.USER_CREATED, changes.GROUP_CREATED, changes.GROUP_MEMBERS_ADDED, changes.USER_DEACTIVATED,
                 changes.REQUEST_REJECTED):
        assert value(after, written, kind=kind) == value(before, written, kind=kind) + 1, kind


def test_the_example_dashboard_queries_only_series_the_server_exports(client: FlaskClient, auth: dict) -> None:
    # A labelled series is exported once something counts in it: a request, an event written, a failed authentication.
    user = {"schemas": [USER_URN], "userName": "dash@example.com"}
    assert client.post("/scim/v2/Users", headers=auth, json=user).status_code == 201
    assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    exported = {name for name, _labels in samples(client)}
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bscim_\w+", target["expr"])}
    assert queried and queried <= exported, queried - exported
