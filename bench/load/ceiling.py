"""The stack's ceiling: a bare Flask app with one JSON route, served by the same gunicorn settings as the server.

    SCIM_BIND=127.0.0.1:8001 .venv/bin/gunicorn -c python:app.gunicorn_config bench.load.ceiling:app
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ceiling() -> dict[str, object]:
    return {"status": "ok", "service": "ceiling", "version": 1}
