"""``/v1/keys`` and ``/v1/projects``: keys made over the API, scoped to projects."""
