"""Who is calling: API keys and their scopes (``keys``), projects (``projects``) and the UI's
browser sessions (``sessions``)."""
