"""gunicorn settings for production; `gunicorn.conf.py` at the top level and `scim-server serve` both use them."""

import os

from app import gunicorn_deliverer, gunicorn_hooks
from app.config import served_bind  # a name, not the module: gunicorn reads `config` here as its own setting

bind = served_bind()
workers = int(os.environ.get("SCIM_WORKERS", "2"))
# Threads that read requests in an event loop and serve only complete ones (app/gunicorn_worker.py): slow clients
# hold a socket each, never a thread.
worker_class = "app.gunicorn_worker.ScimWorker"
# A request may hold two pooled database connections (its reader and the token's last-used update) and the pool
# of a process has 15 (storage.db.make_engine); the GIL leaves little to gain from more threads than a few.
threads = int(os.environ.get("SCIM_THREADS", "4"))
# Open connections of one worker, slow or kept alive; past it the worker stops accepting until some close.
worker_connections = 1000
# The worker's event loop must check in within this time or the master replaces the worker; IdPs wait up to 60 s
# (Okta) for an answer.
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app writes the access log, with each request's id (app/logs.py, SCIM_ACCESS_LOG)
errorlog = "-"
loglevel = os.environ.get("SCIM_LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("SCIM_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Metrics shared by the workers, and gunicorn's own lines in SCIM_LOG_FORMAT (app/gunicorn_hooks.py).
gunicorn_hooks.share_metrics()
logger_class = gunicorn_hooks.logger_class()
child_exit = gunicorn_hooks.child_exit

# The webhook deliverer, one process beside the workers (app/gunicorn_deliverer.py; SCIM_DELIVER=0: none).
when_ready = gunicorn_deliverer.start


def on_exit(server: object) -> None:
    gunicorn_deliverer.stop(server)
    gunicorn_hooks.on_exit(server)
