"""Reading events back: one model's traffic in a time range, filtered and paged
(``browse``). Writing them is the ingest path's (``app.ingest``, ``app.db.writers``)."""
