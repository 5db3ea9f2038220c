"""``GET /v1/models``: the models and versions Driftline has seen."""
