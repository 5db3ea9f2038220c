"""Baselines: uploads and frozen windows become holdouts; the worker profiles them."""
