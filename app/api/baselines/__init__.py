"""``/v1/baselines``: register a model's holdout (upload or a frozen window of traffic)."""
