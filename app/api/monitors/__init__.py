"""``/v1/monitors``: what to compare, how often, how strictly; runs and backfills."""
