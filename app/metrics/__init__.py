"""Prometheus metrics, by where their numbers come from.

- ``process``: the api process's own counters and histograms (ingest, HTTP, slow clients).
- ``model_health``: model health read from the database at scrape time, through the domain
  services (runs, versions, the featuriser) — no SQL of its own.
- ``leader``: model health exported by exactly one worker of a deployment (an advisory lock).
- ``exposition``: the ``/metrics`` body, multiprocess-aware, with the build's version.

The worker's own metrics and heartbeat live with its schedule (``app.jobs.health``).
"""
