"""Generations: how a process knows that rows it keeps in memory are still what the database holds.

A few things every request reads change rarely: the staff tokens and their users' roles, the prices and promotions
in force. A process keeps them in memory and, on each use, reads one number, the generation of what it keeps
(:func:`generation`). SQLite triggers set that number to a new random value in the same transaction as any write to
the rows watched, whoever makes it (the pull, the admin, a management command, a script), so a process sees a
change as soon as it is committed, and a rolled-back write leaves no trace. Random, not a counter: a test's rolled
back transaction, or a database restored from a backup, must never bring back a number a process already saw.

The triggers are (re)made after every ``migrate`` (:func:`triggers_install`): SQLite drops a table's triggers when
Django rebuilds the table to alter it. A process checks once that they exist before it trusts a cache; on
PostgreSQL, which has none here, :func:`generation` says ``UNTRACKED`` and the callers read the rows each time.
"""

import logging

from django.db import connections

from ecomarket.db import connection_now

log = logging.getLogger(__name__)

UNTRACKED = object()  # no generation is kept for this database: do not cache

TABLE = "ecomarket_cachegeneration"

# name -> {table: the columns whose update matters (None: every update)}
WATCHED: dict[str, dict[str, tuple[str, ...] | None]] = {}

_installed: dict[str, bool] = {}  # per database alias: every trigger found (checked once per process)


def watch(name: str, tables: dict[str, tuple[str, ...] | None]) -> None:
    """Keep the generation ``name`` for the rows of ``tables``; an app calls it from its ``ready()``."""
    WATCHED[name] = tables


def _trigger_names() -> list[tuple[str, str, str, str]]:
    """(trigger name, generation, table, SQL event) for every trigger WATCHED asks for."""
    found = []
    for name, tables in WATCHED.items():
        for table, columns in tables.items():
            for event in ("INSERT", "UPDATE", "DELETE"):
                on = f"UPDATE OF {', '.join(columns)}" if event == "UPDATE" and columns else event
                found.append((f"generation_{name}_{table}_{event.lower()}", name, table, on))
    return found


def triggers_install(*, using: str = "default", **kwargs) -> None:
    """Make every trigger WATCHED asks for that the database lacks (a post_migrate receiver; idempotent). None while
    the generations' table is missing (migrated back before it): they would make every write to their tables fail."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return
        for trigger, name, table, on in _trigger_names():
            cursor.execute(
                f'CREATE TRIGGER IF NOT EXISTS "{trigger}" AFTER {on} ON "{table}" BEGIN '
                f"INSERT OR REPLACE INTO {TABLE} (name, value) VALUES ('{name}', random()); END"
            )
    _installed.pop(using, None)


def _triggers_present(connection) -> bool:
    present = _installed.get(connection.alias)
    if present is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            have = {row[0] for row in cursor.fetchall()}
        missing = [trigger for trigger, *_ in _trigger_names() if trigger not in have]
        if missing:
            log.warning("caches off: triggers missing (run manage.py migrate): %s", ", ".join(missing))
        present = _installed[connection.alias] = not missing
    return present


def generation(name: str):
    """The current generation of ``name``: a number, None before the first write, or ``UNTRACKED`` where no
    generation is kept (PostgreSQL, or the triggers are missing). One statement: read it in the same transaction as
    the rows it guards, before reading them."""
    connection = connection_now()
    if connection.vendor != "sqlite" or not _triggers_present(connection):
        return UNTRACKED
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {TABLE} WHERE name = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None
