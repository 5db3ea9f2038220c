"""``GET /v1/exports/retraining``: production examples worth retraining on, scrubbed."""
