"""The branch's SQLite runs in WAL mode with synchronous=FULL and a busy timeout, and refuses to run otherwise."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from ecomarket.db import sqlite_pragmas_check

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
