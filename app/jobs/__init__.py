"""Background work run by ``driftline worker`` (and in-process by ``driftline up``)."""
