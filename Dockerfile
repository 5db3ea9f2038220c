# syntax=docker/dockerfile:1
# Driftline's two images, one per process kind (`driftline <command>`):
#   docker build --target worker -t driftline-worker:0.1.0 .   # worker: the engine's statistics
#   docker build -t driftline-api:0.1.0 .                      # api and migrate: slim (default)
# The api never imports the engine (Evidently, pandas, scipy, scikit-learn, pyarrow, plotly)
# nor the embedded PostgreSQL, so its image leaves them out: see docs/operations.md for sizes.

FROM python:3.11.14-slim-bookworm AS build-api
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
COPY docs/runbooks ./docs/runbooks
# A regular (non-editable) install: migrations and runbooks are packaged into the wheel.
RUN pip install --no-compile .

FROM build-api AS build-worker
# The engine extra's versions are pinned in pyproject.toml, which hadolint cannot see.
# hadolint ignore=DL3013
RUN pip install --no-compile ".[engine]"

FROM python:3.11.14-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --create-home --home-dir /home/driftline driftline
# The commit shown by `driftline --version` and driftline_build_info:
#   docker build --build-arg DRIFTLINE_BUILD_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG DRIFTLINE_BUILD_COMMIT=unknown
ENV DRIFTLINE_BUILD_COMMIT=$DRIFTLINE_BUILD_COMMIT \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DRIFTLINE_HOST=0.0.0.0 \
    DRIFTLINE_PORT=8000 \
    DRIFTLINE_DATA_DIR=/home/driftline/data
USER 10001
WORKDIR /home/driftline
ENTRYPOINT ["driftline"]

FROM runtime AS worker
COPY --from=build-worker /opt/venv /opt/venv
# The worker's own /metrics and /healthz (DRIFTLINE_WORKER_METRICS_PORT).
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status != 200)"]
CMD ["worker"]

# Last, so that a plain `docker build .` gives the api image.
FROM runtime AS api
COPY --from=build-api /opt/venv /opt/venv
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["api"]
