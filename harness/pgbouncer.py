"""PgBouncer (Debian's package) in transaction mode on loopback, in front of a PostgreSQL server: for the CI test
that proves central keeps no session state (ecomarket/tests/test_pgbouncer.py) and for the chain-scale benchmark.

Production runs it from its own service unit with the same three settings that matter here: ``pool_mode =
transaction``, a small ``default_pool_size`` (PostgreSQL's connections, per database and user) and a large
``max_client_conn`` (every gunicorn and Celery process's connections). Central must then run with
``DATABASE_TRANSACTION_POOLING=true`` (no server-side cursors; see ecomarket/settings.py).
"""

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from harness.processes import LOOPBACK, Node, Process, poll, port_free

PGBOUNCER = "/usr/sbin/pgbouncer"


class PgBouncer(Process):
    def __init__(self, postgres_url: str, *, pool_size: int = 20, max_client_conn: int = 2000) -> None:
        server = urlsplit(postgres_url)
        self.user = server.username or "postgres"
        self.port = port_free()
        # Its own world-readable folder: run as root, pgbouncer drops to the postgres user (-u), which must still
        # read its configuration (pytest's tmp_path is private to root).
        folder = Path(tempfile.mkdtemp(prefix="ecomarket-pgbouncer-"))
        folder.chmod(0o755)
        password = f" password={server.password}" if server.password else ""
        (folder / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.hostname or LOOPBACK} port={server.port or 5432} user={self.user}{password}\n"
            "[pgbouncer]\n"
            f"listen_addr = {LOOPBACK}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"  # loopback only; production uses scram-sha-256 with an auth_query
            f"auth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            f"max_client_conn = {max_client_conn}\n"
            f"admin_users = {self.user}\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        for path in folder.iterdir():
            path.chmod(0o644)
        as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
        super().__init__(
            Node(mode="pgbouncer", data_dir=folder),
            [PGBOUNCER, *as_postgres, str(folder / "pgbouncer.ini")],
            "pgbouncer",
        )

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/{database}"

    def start(self) -> "PgBouncer":
        super().start()
        poll(self.show, timeout=15, what="pgbouncer accepting connections")
        return self

    def show(self, what: str = "STATS") -> dict[str, dict]:
        """A ``SHOW`` of PgBouncer's admin console (STATS: per database, total_xact_count...; POOLS: per database,
        client and server connections active and waiting), one dict per database."""
        if what not in ("STATS", "POOLS"):
            raise ValueError(what)
        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as admin:
            cursor = admin.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        shutil.rmtree(self.node.data_dir, ignore_errors=True)
