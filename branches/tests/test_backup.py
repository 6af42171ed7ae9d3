"""Online backups of the branch database (``manage.py backup``): a consistent copy taken while tills sell, pruned to
BACKUP_KEEP, scheduled by beat, its age in sync status (docs/architecture.md)."""

import sqlite3
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from branches.backup import BackupError, branch_backup_create, branch_backup_restore, branch_backups
from branches.sync_status import sync_status
from inventory.services import Line, sale_create

pytestmark = [pytest.mark.mode("branch")]


def read(path, sql):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_while_tills_sell_is_a_consistent_copy(shelf, tmp_path):
    sold, errors = [], []

    def till():
        try:
            for _ in range(40):
                recorded, _ = sale_create(
                    sale_id=None,
                    lines=[Line(sku="FRU-BANANA", quantity=Decimal("0.1"))],
                    payment_method="cash",
                    cashier=None,
                )
                sold.append(recorded.sale.number)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    with override_settings(BACKUP_DIR=tmp_path):
        thread = threading.Thread(target=till)
        thread.start()
        copies = [branch_backup_create()]
        while thread.is_alive() and len(copies) < 30:  # copies taken while the till sells
            copies.append(branch_backup_create())
        thread.join(timeout=120)

    assert not errors and len(sold) == 40, errors
    for copy in copies:
        seqs = [row[0] for row in read(copy, "SELECT seq FROM branches_outboxevent ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        sales = read(copy, "SELECT count(*) FROM inventory_sale")[0][0]
        assert read(copy, "SELECT count(*) FROM branches_outboxevent WHERE type = 'sale.completed'") == [(sales,)]
        ledger = {}
        for sku, quantity in read(copy, "SELECT sku, quantity FROM inventory_stockmovement"):
            ledger[sku] = ledger.get(sku, Decimal("0")) + Decimal(str(quantity)).quantize(Decimal("0.001"))
        levels = read(copy, "SELECT sku, on_hand FROM inventory_stocklevel")
        milli = Decimal("0.001")  # SQLite hands decimals back as floats
        assert {sku: Decimal(str(on_hand)).quantize(milli) for sku, on_hand in levels} == {
            sku: total.quantize(milli) for sku, total in ledger.items()
        }


@pytest.mark.django_db
def test_only_the_newest_backup_keep_are_kept_and_status_reports_the_newest_age(shelf, tmp_path):
    with override_settings(BACKUP_DIR=tmp_path, BACKUP_KEEP=2):
        assert sync_status()["last_backup_age_s"] is None
        made = [branch_backup_create() for _ in range(3)]

        assert branch_backups() == made[1:]
        status = sync_status()
    assert status["last_backup_at"] is not None and status["last_backup_age_s"] >= 0


def test_beat_takes_a_backup_every_backup_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["branch-backup"]

    assert entry["task"] == "branches.tasks.branch_backup_task"
    assert entry["schedule"] == settings.BACKUP_INTERVAL_S


def test_restore_refuses_a_file_that_is_not_a_branch_database(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    with sqlite3.connect(junk) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()

    with pytest.raises(BackupError, match="not an EcoMarket branch database"):
        branch_backup_restore(source=junk)
    with pytest.raises(BackupError, match="does not exist"):
        branch_backup_restore(source=tmp_path / "missing.sqlite3")


@pytest.mark.django_db
def test_the_backup_command_says_where_it_wrote(shelf, tmp_path, capsys):
    with override_settings(BACKUP_DIR=tmp_path):
        call_command("backup")

    assert f"backup: {tmp_path}" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_restore_puts_the_backup_back_over_an_unreadable_database(shelf, tmp_path):
    with override_settings(BACKUP_DIR=tmp_path):
        backup = branch_backup_create()
    live = tmp_path / "live.sqlite3"
    live.write_bytes(b"not a database any more" * 100)
    databases = {**settings.DATABASES, "default": {**settings.DATABASES["default"], "NAME": str(live)}}

    with override_settings(BACKUP_DIR=tmp_path, DATABASES=databases):
        branch_backup_restore(source=backup)

    assert read(live, "SELECT count(*) FROM branches_outboxevent") == read(
        backup, "SELECT count(*) FROM branches_outboxevent"
    )
    assert list(tmp_path.glob("live.sqlite3.broken-*"))
