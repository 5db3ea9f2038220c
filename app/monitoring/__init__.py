"""A monitor window run, start to end: planning, claiming, computing, storing, reading.

The only package with SQL on ``monitor_runs``, ``monitor_run_revisions`` and ``metric_values``.
"""
