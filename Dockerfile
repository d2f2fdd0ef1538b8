FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SCIM_BIND=0.0.0.0:8000 SCIM_DATABASE_URL=sqlite:////data/scim.db
WORKDIR /srv/scim
COPY setup.cfg pyproject.toml README.md gunicorn.conf.py wsgi.py ./
COPY app ./app
COPY scim ./scim
COPY storage ./storage
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home /srv/scim scim \
    && mkdir -p /data && chown scim /data
USER scim
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# Migrate (idempotent), then serve with the project's gunicorn settings.
CMD ["sh", "-c", "scim-server init-db && exec gunicorn -c python:app.gunicorn_config wsgi:app"]
