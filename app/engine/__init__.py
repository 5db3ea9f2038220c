"""Pure monitoring maths: DataFrames and arrays in, result dataclasses out. No DB, no HTTP.

Modules: ``descriptors`` (per-event text features), ``pii``, ``embeddings``, ``drift``
(descriptor, prediction/label, text and embedding drift), ``quality``, ``perplexity``,
``longtail``, ``data_quality``, ``verdict`` (one verdict per check and overall), ``window``
(runs every check for a window against a prepared baseline) and ``report`` (Evidently HTML).
"""
