"""SQLite connection checks (DESIGN.md §2).

Django runs ``init_command`` but never looks at what the PRAGMAs returned: a read-only filesystem or an old SQLite
can silently leave a connection in rollback-journal mode without a busy timeout, which is exactly when cashiers
start seeing "database is locked". So every new connection is checked and refused if it is not what we asked for.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created

SYNCHRONOUS_LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


def sqlite_pragmas_check(*, connection) -> None:
    """Refuse a SQLite connection whose journal mode, synchronous level or busy timeout is not the configured one."""
    with connection.cursor() as cursor:
        journal_mode = cursor.execute("PRAGMA journal_mode").fetchone()[0].lower()
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
        busy_timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    problems = []
    if journal_mode != "wal" and connection.settings_dict["NAME"] != ":memory:":
        problems.append(f"journal_mode is {journal_mode!r}, expected 'wal'")
    if synchronous != SYNCHRONOUS_LEVELS[settings.SQLITE_SYNCHRONOUS]:
        problems.append(f"synchronous is {synchronous}, expected {settings.SQLITE_SYNCHRONOUS}")
    if busy_timeout <= 0:
        problems.append("busy_timeout is 0")
    if problems:
        raise ImproperlyConfigured(f"SQLite database {connection.settings_dict['NAME']}: " + "; ".join(problems))


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        sqlite_pragmas_check(connection=connection)


def connect_checks_install() -> None:
    connection_created.connect(_on_connection_created, dispatch_uid="ecomarket.sqlite_pragmas_check")
