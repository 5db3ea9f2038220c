"""``/v1/runs/{id}`` and its HTML report."""
