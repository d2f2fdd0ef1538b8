"""gunicorn reads this file from the working directory: `gunicorn wsgi:app`."""

from app.gunicorn_config import *  # noqa: F403
