"""Retraining exports: the production examples worth learning from, scrubbed."""
