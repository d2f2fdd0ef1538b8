"""Under gunicorn, started as a user starts it: /metrics shows every worker's values to the token's bearer alone,
and every line of the log is a JSON object, a request's lines carrying its id."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_activity import OKTA
from tests.conftest import make_token
from tests.live import call, live_server

METRICS_TOKEN = "live-metrics-token"


def test_gunicorn_serves_the_metrics_and_writes_json_lines_with_request_ids(
    app: Flask, db_url: str, tmp_path: Path
) -> None:
    token = make_token(app, "acme")
    log, scratch = tmp_path / "gunicorn.log", tmp_path / "tmp"
    scratch.mkdir()
    environment = {"SCIM_METRICS_TOKEN": METRICS_TOKEN, "SCIM_ACCESS_LOG": "-", "SCIM_LOG_LEVEL": "INFO",
                   "SCIM_LOG_FORMAT": "json", "TMPDIR": str(scratch)}
    ids = [f"live-{index}" for index in range(6)]
    with live_server(db_url, log, workers=2, environment=environment) as port:
        [metrics_dir] = scratch.glob("scim-metrics-*")
        for request_id in ids:
            status, headers, _body = call(port, "GET", "/scim/v2/Users", token,
                                          headers={"User-Agent": OKTA, "X-Request-Id": request_id})
            assert status == 200 and headers["X-Request-Id"] == request_id
        assert call(port, "GET", "/metrics", "wrong-token")[0] == 404
        assert call(port, "GET", "/metrics", token)[0] == 404  # a SCIM token is not the metrics token
        status, headers, text = call(port, "GET", "/metrics", METRICS_TOKEN)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert any(metrics_dir.glob("counter_*.db"))  # the workers' values are in the shared directory
    assert not metrics_dir.exists()  # removed as the server exited

    found = {(sample.name, frozenset(sample.labels.items())): sample.value
             for family in text_string_to_metric_families(text) for sample in family.samples}
    okta_lists = frozenset({"route": "/scim/v2/<endpoint>", "method": "GET", "status": "200", "idp": "okta"}.items())
    assert found[("scim_http_requests_total", okta_lists)] == len(ids)
    assert found[("scim_db_connections_checked_out", frozenset())] >= 1

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # each one a JSON object
    access = {line["request_id"]: line for line in lines if line["logger"] == "app.access"}
    assert all(access[request_id]["status"] == 200 and access[request_id]["path"] == "/scim/v2/Users"
               for request_id in ids)
    assert any(line["logger"] == "gunicorn.error" and line["message"].startswith("Starting gunicorn")
               for line in lines)  # gunicorn's own lines too, from its master process
