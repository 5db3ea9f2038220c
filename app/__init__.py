"""Driftline: self-hosted monitoring for fine-tuned LLMs."""

__version__ = "0.1.0"
