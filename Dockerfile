# Fireline's container image: one image for web, workers and beat (SERVE_ROLES picks), run by bin/serve.
# Not built in this repository's CI (no container engine there); `hadolint` lints this file in the tests.
#
#   docker build -t fireline .
#   docker compose up        (compose.yaml: web, worker, beat, PostgreSQL, Redis)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the virtualenv with Fireline and its dependencies, and the static files collected once ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY charts ./charts
COPY config ./config
COPY audit ./audit
COPY command ./command
COPY drills ./drills
COPY incidents ./incidents
COPY oncall ./oncall
COPY preferences ./preferences
COPY integrations ./integrations
COPY sso ./sso
COPY chatops ./chatops
COPY templates ./templates
COPY bin ./bin
COPY deploy ./deploy
# WhiteNoise's compressed, hashed files are made once here; the keys collectstatic generates stay behind.
RUN pip install . \
    && DEBUG=false SECRET_KEY=collectstatic-only FIRELINE_VAR_DIR=/tmp/build-var STATIC_ROOT=/app/static \
        python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/build-var

# ---- runtime: WeasyPrint's system libraries, a user without privileges, nothing to compile ----
FROM ${PYTHON_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libjpeg62-turbo libopenjp2-7 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fireline \
    && useradd --system --uid 10001 --gid fireline --home-dir /app --no-create-home fireline \
    && install -d -o fireline -g fireline /var/lib/fireline
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FIRELINE_VENV=/opt/venv \
    FIRELINE_VAR_DIR=/var/lib/fireline \
    STATIC_ROOT=/app/static \
    COLLECTSTATIC=false \
    PROMETHEUS_MULTIPROC_DIR=/tmp/fireline-prometheus \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json
USER 10001:10001
VOLUME ["/var/lib/fireline"]
EXPOSE 8000
# Liveness of the web role (a worker or beat container turns it off in compose.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["bin/serve"]
