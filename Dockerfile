# The SCIM server: gunicorn as a non-root user; its data (SQLite database, generated secret key) in the /data volume.
# compose.yaml runs it with PostgreSQL; tests/deploy/test_docker.py replays these steps without Docker.

# Build the wheel apart, so the image holds the installed package and none of its build inputs.
FROM python:3.11-slim AS build
WORKDIR /src
COPY setup.cfg pyproject.toml README.md wsgi.py ./
COPY app ./app
COPY scim ./scim
COPY storage ./storage
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SCIM_DATA_DIR=/data SCIM_BIND=0.0.0.0:8000
COPY --from=build /wheels /wheels
# The package is root's and read-only to the server's user, which owns /data alone.
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 scim \
    && useradd --system --uid 10001 --gid scim --home-dir /data --no-create-home scim \
    && mkdir /data \
    && chown scim:scim /data
VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# Migrate (idempotent), then serve with the project's gunicorn settings; gunicorn becomes PID 1 and gets the signals.
CMD ["sh", "-c", "scim-server init-db && exec scim-server serve"]
