"""``/v1/judges``."""
