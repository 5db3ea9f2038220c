"""Persistence: typed ORM models, the engine/session, and fast-path writers."""
