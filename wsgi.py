"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`. Refuses to start on an un-migrated database."""

from app import create_app, database
from storage import revisions

app = create_app()

with app.app_context():
    if not revisions.is_current(database.engine()):
        raise SystemExit(
            f"SCIM server: the database at {database.engine().url.render_as_string(hide_password=True)} is at "
            f"revision {revisions.current(database.engine())}, the code needs {revisions.head()}. "
            "Run `scim-server init-db` first."
        )
