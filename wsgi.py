"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`. Refuses to start on a database at another revision;
starts without a database it cannot reach (see app.database.start_up_refusal)."""

from app import create_app, database

app = create_app()

with app.app_context():
    refusal = database.start_up_refusal()
    if refusal:
        raise SystemExit(refusal)
