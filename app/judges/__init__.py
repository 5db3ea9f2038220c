"""LLM judges: configuration, calls and their cached answers."""
