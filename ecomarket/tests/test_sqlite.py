"""The branch's SQLite runs in WAL mode with synchronous=FULL and a busy timeout, and refuses to run otherwise."""

import logging
import os
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import override_settings

from ecomarket.db import sqlite_pragmas_check
from ecomarket.sqlite import base as sqlite_base

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def pragma(name: str):
    with connection.cursor() as cursor:
        return cursor.execute(f"PRAGMA {name}").fetchone()[0]


def test_connection_is_wal_full_sync_with_busy_timeout():
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("busy_timeout") >= 1000
    assert connection.settings_dict["NAME"].endswith(".sqlite3")  # a real file, not :memory:


def test_transactions_take_the_write_lock_at_begin():
    assert connection.transaction_mode == "IMMEDIATE"


def test_a_connection_that_is_not_what_was_asked_for_is_refused():
    with override_settings(SQLITE_SYNCHRONOUS="EXTRA"), pytest.raises(ImproperlyConfigured, match="synchronous"):
        sqlite_pragmas_check(connection=connection)


# --- The write-lock holder's priority (ecomarket/sqlite/base.py) -------------------------------------------------


def nice_now() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def boost_permitted() -> bool:
    """Whether this process may raise a thread's priority at all (root or CAP_SYS_NICE, as on the CI machine)."""
    try:
        os.setpriority(os.PRIO_PROCESS, os.getpid(), os.getpriority(os.PRIO_PROCESS, os.getpid()) - 1)
    except PermissionError:
        return False
    os.setpriority(os.PRIO_PROCESS, os.getpid(), os.getpriority(os.PRIO_PROCESS, os.getpid()) + 1)
    return True


@pytest.mark.django_db(transaction=True)
def test_the_write_lock_holder_runs_boosted_and_drops_back_at_commit_and_rollback(settings):
    before = nice_now()
    expected = settings.SQLITE_WRITER_NICE if boost_permitted() else before
    with transaction.atomic():
        assert nice_now() == expected
    assert nice_now() == before
    with pytest.raises(RuntimeError, match="till cancelled"), transaction.atomic():
        assert nice_now() == expected
        raise RuntimeError("till cancelled")
    assert nice_now() == before


@pytest.mark.django_db(transaction=True)
def test_no_boost_when_turned_off(settings):
    settings.SQLITE_WRITER_NICE = 0
    before = nice_now()
    with transaction.atomic():
        assert nice_now() == before


@pytest.mark.django_db(transaction=True)
def test_a_refused_boost_leaves_priority_alone_and_the_write_goes_through(monkeypatch, caplog):
    monkeypatch.setattr(sqlite_base, "_boost_refused", False)

    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(sqlite_base.os, "setpriority", refused)
    before = nice_now()
    with caplog.at_level(logging.INFO, logger="ecomarket.sqlite.base"):
        for _ in range(2):
            with transaction.atomic(), connection.cursor() as cursor:
                assert nice_now() == before
                cursor.execute("CREATE TABLE IF NOT EXISTS boost_probe (id INTEGER)")
                cursor.execute("INSERT INTO boost_probe VALUES (1)")
    assert nice_now() == before
    assert row_count("boost_probe") == 2
    assert [r.message for r in caplog.records].count(
        "the write-lock holder runs at normal priority (SQLITE_WRITER_NICE not applied: [Errno 1] Operation not "
        "permitted)"
    ) == 1  # logged once per process, not once per write


def row_count(table: str) -> int:
    with connection.cursor() as cursor:
        return cursor.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_closing_a_connection_closes_its_write_lock_file():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS lock_file_probe (id INTEGER)")
    lock_file = connection._writer_lock
    assert lock_file is not None and not lock_file.closed

    connection.close()

    assert lock_file.closed, "an open file left to the garbage collector (ResourceWarning under -W error)"
    with transaction.atomic(), connection.cursor() as cursor:  # the next write opens a new one
        cursor.execute("INSERT INTO lock_file_probe VALUES (1)")
    assert row_count("lock_file_probe") == 1
