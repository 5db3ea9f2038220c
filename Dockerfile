# syntax=docker/dockerfile:1
# Driftline: one image for api, worker and migrate (`driftline <command>`).

FROM python:3.11.14-slim-bookworm AS build
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

FROM python:3.11.14-slim-bookworm
RUN useradd --system --uid 10001 --create-home --home-dir /home/driftline driftline
COPY --from=build /opt/venv /opt/venv
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
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["driftline"]
CMD ["api"]
