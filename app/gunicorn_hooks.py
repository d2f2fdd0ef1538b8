"""gunicorn's part in the metrics and the log, called from app/gunicorn_config.py.

Metrics: the workers are separate processes, so prometheus-client keeps their values in files of one directory
(PROMETHEUS_MULTIPROC_DIR) and /metrics sums them. The directory is made fresh when the server's configuration is
loaded, before any worker (or an app preloaded into the master) imports prometheus-client, so no value of an
earlier run is counted; an exited worker's gauge is dropped (its counters stay: they count what it did) and the
directory is removed when the server exits. Nothing is made when metrics are off (no SCIM_METRICS_TOKEN).

Log: with SCIM_LOG_FORMAT=json (the default) gunicorn's own lines (master and workers: starting, booting, timeouts)
are JSON objects too. Its access log is off: the app writes one with each request's id (app/logs.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from app import logs

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
_metrics_dir: str | None = None  # made by share_metrics, for this server


def share_metrics() -> None:
    """With metrics on, a fresh directory for the workers' values."""
    global _metrics_dir
    if os.environ.get("SCIM_METRICS_TOKEN") and _metrics_dir is None:
        _metrics_dir = os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix="scim-metrics-")


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook, in the master, when a worker has exited: drop its live gauge values."""
    if _metrics_dir is not None:
        from prometheus_client import multiprocess  # imported only after the directory is set

        multiprocess.mark_process_dead(worker.pid, _metrics_dir)


def on_exit(_server: Any) -> None:
    """gunicorn's hook, in the master, as the server exits."""
    if _metrics_dir is not None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def logger_class() -> type[Logger] | str:
    """gunicorn's logger for SCIM_LOG_FORMAT: for text, gunicorn's default (by its name, as gunicorn expects it)."""
    return JsonLogger if os.environ.get("SCIM_LOG_FORMAT", "json").lower() == "json" else "gunicorn.glogging.Logger"


class JsonLogger(Logger):
    """gunicorn's logger, its lines as JSON objects (app/logs.py's format)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if isinstance(handler, logging.StreamHandler):  # the console or a file; a syslog line keeps its format
                handler.setFormatter(logs.formatter("json"))
