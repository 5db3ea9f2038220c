"""``POST /v1/feedback``: labels and scores that arrive after (or before) their event."""
