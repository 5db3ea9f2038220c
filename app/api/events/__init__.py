"""``POST /v1/events``: durable, idempotent ingestion of model calls."""
