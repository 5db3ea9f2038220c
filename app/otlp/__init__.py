"""OpenTelemetry ingestion: OTLP/HTTP trace bodies decoded (``decode``) and LLM-call spans
mapped to Driftline events (``genai``). Pure: no database, no HTTP framework."""
