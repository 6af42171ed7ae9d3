"""SQLite connection checks (docs/architecture.md, "Deployments").

Django runs ``init_command`` but never looks at what the PRAGMAs returned: a read-only filesystem or an old SQLite
can silently leave a connection in rollback-journal mode without a busy timeout, which is exactly when cashiers
start seeing "database is locked". So every new connection is checked and refused if it is not what we asked for.
"""

from collections.abc import Sequence
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models
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


def connection_now():
    """The default database's connection object itself. ``django.db.connection`` is a proxy that looks the
    connection up in a context-local store on every attribute access, and a sale made dozens of them, most from
    preparing values, so the hot paths below look it up once per call (docs/benchmarks.md)."""
    return connections[DEFAULT_DB_ALIAS]


@cache
def _insert_plan(model, vendor: str, names: tuple[str, ...] | None) -> tuple[list, str]:
    """The fields an insert writes, in the order of each row's values (``names``, by attname; None: every concrete
    field but an auto-created primary key, which the database makes), and the statement that writes them: COPY on
    PostgreSQL, a plain INSERT elsewhere. Built once per model and field list."""
    connection = connection_now()
    if names is None:
        fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.auto_created)]
    else:
        by_attname = {field.attname: field for field in model._meta.concrete_fields}
        fields = [by_attname[name] for name in names]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    if vendor == "postgresql":
        return fields, f"COPY {table(model)} ({columns}) FROM STDIN"
    return fields, f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"


def rows_copy(model, names: tuple[str, ...], rows: list[Sequence]) -> None:
    """Insert new rows of ``model``, each a sequence of values for the fields ``names`` (attnames: ``branch_id``,
    not ``branch``), in the caller's transaction: PostgreSQL's COPY where we run on it (no SQL to build, no
    parameters to bind: several times faster for ingestion batches), one prepared INSERT run per row elsewhere. No
    model instance is built: at ingestion rates, making one cost more than writing its row (docs/scale-runs.md, "Waiting
    for a slot", point 3). No signals, no defaults: every value the table needs is in the row."""
    if not rows:
        return
    connection = connection_now()
    fields, sql = _insert_plan(model, connection.vendor, names)
    if connection.vendor != "postgresql":
        # The values prepared as bulk_create prepares them, without its query compiler, which cost more than the
        # insert on a sale's path (docs/profiles/branch-sale.txt).
        with connection.cursor() as cursor:
            cursor.executemany(
                sql,
                [
                    [field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True)]
                    for row in rows
                ],
            )
        return
    # psycopg adapts str, int, bool, Decimal, UUID and aware datetimes itself; only JSON needs Django's preparation,
    # whose per-value work was the largest part of an ingestion batch's CPU time when every value went through it.
    as_json = [index for index, field in enumerate(fields) if isinstance(field, models.JSONField)]
    with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:
        for row in rows:
            if as_json:
                row = list(row)
                for index in as_json:
                    row[index] = fields[index].get_db_prep_save(row[index], connection)
            copy.write_row(row)


def rows_insert(model, objects: list) -> None:
    """Insert new rows of ``model`` from unsaved instances, in the caller's transaction, as ``rows_copy`` writes
    them. Rows are written as given: no signals, no primary keys read back (an auto-created key stays None). The
    instances are marked saved, as ``create()`` would leave them."""
    if not objects:
        return
    connection = connection_now()
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias
    fields, _ = _insert_plan(model, connection.vendor, None)
    computed = {  # the fields that compute their value as the row is saved
        field.attname for field in fields if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    }
    rows_copy(
        model,
        tuple(field.attname for field in fields),
        [
            [
                field.pre_save(obj, add=True) if field.attname in computed else getattr(obj, field.attname)
                for field in fields
            ]
            for obj in objects
        ],
    )


def rows_accumulate(model, *, keys: tuple[str, ...], rows: list[dict], highest: tuple[str, ...] = ()) -> None:
    """Add each row's values to the stored row of ``model`` with the same ``keys`` (a unique constraint), creating
    it from the field defaults plus the values the first time; a field in ``highest`` keeps the larger value
    instead. One ``INSERT ... ON CONFLICT DO UPDATE`` run for every row (``executemany``: pipelined by psycopg), in
    the caller's transaction, on SQLite and PostgreSQL alike. Plain SQL: the ORM's
    ``bulk_create(update_conflicts=True)`` can only overwrite a stored value, not add to it, and reading the rows to
    add in Python cost a query and a ``bulk_update`` per table, most of a roll-up's CPU (docs/scale-runs.md,
    "The periodic jobs"). One statement of many rows' placeholders would cost more: psycopg's client-side binding parses
    a long statement anew each time."""
    if not rows:
        return
    connection = connection_now()
    fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.auto_created)]
    name, quote = table(model), connection.ops.quote_name
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    updates = ", ".join(
        f"{quote(f.column)} = {greatest}({name}.{quote(f.column)}, excluded.{quote(f.column)})"
        if f.name in highest
        else f"{quote(f.column)} = {name}.{quote(f.column)} + excluded.{quote(f.column)}"
        for f in fields
        if f.name not in keys
    )
    sql = (
        f"INSERT INTO {name} ({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(quote(model._meta.get_field(key).column) for key in keys)}) DO UPDATE SET {updates}"
    )
    native = connection.vendor == "postgresql"  # psycopg adapts Decimal, date, aware datetime and the rest itself
    defaults = {f.name: f.get_default() for f in fields}
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [
                    row.get(f.name, defaults[f.name])
                    if native
                    else f.get_db_prep_save(row.get(f.name, defaults[f.name]), connection)
                    for f in fields
                ]
                for row in rows
            ],
        )


def rows_update(model, objects: list, fields: tuple[str, ...]) -> None:
    """Write ``fields`` of each of ``objects`` to its stored row (found by primary key), in the caller's transaction:
    one ``UPDATE`` run for every row (``executemany``: pipelined by psycopg). Django's ``bulk_update`` builds a
    ``CASE WHEN`` expression per field and row, which cost more CPU than the statement itself (docs/benchmarks.md,
    "Figures behind choices in the code")."""
    if not objects:
        return
    connection = connection_now()
    quote = connection.ops.quote_name
    columns, key = [model._meta.get_field(name) for name in fields], model._meta.pk
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    sql = f"UPDATE {table(model)} SET {assignments} WHERE {quote(key.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]
                + [key.get_db_prep_value(obj.pk, connection)]
                for obj in objects
            ],
        )


def table(model) -> str:
    """``model``'s table, quoted for this database, for the few hot paths written as plain SQL."""
    return connection_now().ops.quote_name(model._meta.db_table)


def scalar(sql: str, params: list):
    """The first column of the first row ``sql`` returns, or None: for hot paths where building an ORM query costs
    more than running it."""
    with connection_now().cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None
