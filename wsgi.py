"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`. Refuses to start on a database at another revision;
starts without a database it cannot reach (see storage.revisions.start_up_refusal)."""

from app import create_app, database
from storage import revisions

app = create_app()

with app.app_context():
    refusal = revisions.start_up_refusal(database.engine())
    if refusal:
        raise SystemExit(refusal)
