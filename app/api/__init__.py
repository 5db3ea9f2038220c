"""HTTP API: one router module per resource, with its schemas beside it."""
