"""A store's SQLite after a year or more of sales, with and without housekeeping.

    .venv/bin/python bench/branch_year.py            (or: make bench-branch-year)

A fresh branch database (migrated, the demo catalogue, a cashier) under var/bench-branch-year. TEMPLATE sales go
through the real sale service (one to eight lines, 4.5 on average, cash), with their times spread over one slot of
the span, and their outbox events are marked delivered as a push would. Those rows (the sale, its lines, its ledger
rows, its outbox event) are then copied with SQL, slot by slot back through DAYS days (default 730: longer than
BRANCH_RECORDS_RETENTION_DAYS, so its retention has something to delete), until the database holds SALES sales
(default 1,000,000): each copy with new ids, its times moved back by its slot, and sale numbers and seqs below the
newer copies' (numbers and seqs grow with time, as at a store), delivered two seconds after it happened; same row
sizes as the originals (an event's payload is copied as it was).

Then it reports the file (database + WAL, after a checkpoint) and each table's share (SQLite's dbstat), three
times: as filled (no housekeeping: what the span of sales leaves), after the real nightly housekeeping
(``outbox_delivered_prune`` at the end of the span, with central's high-water mark at the newest seq, and
``housekeeping_run``, which deletes the sales and folds the ledger past BRANCH_RECORDS_RETENTION_DAYS; SQLite keeps
the freed pages in the file for the next writes, so the file stops growing until it has used them), and after
VACUUM (what the live rows take). SALES=100000 runs a smaller span in a tenth of the time.
"""

import os
import random
import shutil
import sqlite3
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / "var" / "bench-branch-year"
SALES = int(os.environ.get("SALES", 1_000_000))
TEMPLATE = 500
SPAN = timedelta(days=int(os.environ.get("DAYS", 730)))

shutil.rmtree(DATA_DIR, ignore_errors=True)
DATA_DIR.mkdir(parents=True)
os.environ.update(
    {
        "ECOMARKET_MODE": "branch",
        "BRANCH_CODE": "B001",
        "DATA_DIR": str(DATA_DIR),
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "ecomarket.settings",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "BRANCH_ALLOW_NEGATIVE_STOCK": "true",  # a year of sales without a year of receipts
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from branches import outbox  # noqa: E402
from branches.models import OutboxEvent, OutboxState, SyncState  # noqa: E402
from ecomarket.housekeeping import housekeeping_run  # noqa: E402
from ecomarket.roles import Role, staff_user_create  # noqa: E402
from inventory import services  # noqa: E402
from inventory.models import Product  # noqa: E402

DB = Path(settings.DATABASES["default"]["NAME"])
TABLES = ("inventory_sale", "inventory_saleline", "inventory_stockmovement", "branches_outboxevent")

# One copy of the template (its rows kept apart in temporary tables, so a copy reads TEMPLATE sales, not the year):
# ``:copy`` the copy's number, ``:back`` its seconds back, ``:seqs`` the template's seq span and ``:numbers`` its
# sale numbers (the template's own numbers and seqs are moved above every copy's first). New ids keep the template's
# last 24 hex digits behind the copy's number.
TEMPLATE_SQL = [
    "UPDATE inventory_sale SET number = number + :above * :numbers",
    "UPDATE inventory_stockmovement SET seq = seq + :above * :seqs",
    "UPDATE branches_outboxevent SET seq = seq + :above * :seqs",
    "CREATE TEMP TABLE tpl_sale AS SELECT * FROM inventory_sale",
    "CREATE TEMP TABLE tpl_saleline AS SELECT * FROM inventory_saleline",
    "CREATE TEMP TABLE tpl_stockmovement AS SELECT * FROM inventory_stockmovement WHERE kind = 'sale'",
    "CREATE TEMP TABLE tpl_outboxevent AS SELECT * FROM branches_outboxevent WHERE type = 'sale.completed'",
]
COPY_SQL = [
    """INSERT INTO inventory_sale (id, branch, number, status, payment_method, total, oversold, fingerprint, created_at,
        voided_at, void_reason, cashier_id, markdown, markdown_approved_by)
       SELECT printf('%08x', :copy) || substr(id, 9), branch, number - :copy * :numbers, status, payment_method, total,
        oversold, fingerprint, datetime(created_at, '-' || :back || ' seconds'), voided_at, void_reason, cashier_id,
        markdown, markdown_approved_by
       FROM tpl_sale""",
    """INSERT INTO inventory_saleline (quantity, unit_price, line_total, sku, sale_id, barcodes, discount, gross,
        promotion_id, markdown, markdown_discount)
       SELECT l.quantity, l.unit_price, l.line_total, l.sku, printf('%08x', :copy) || substr(l.sale_id, 9), l.barcodes,
        l.discount, l.gross, l.promotion_id, l.markdown, l.markdown_discount
       FROM tpl_saleline l""",
    """INSERT INTO inventory_stockmovement (id, branch, quantity, kind, reference, occurred_at, seq, sku)
       SELECT printf('%08x', :copy) || substr(id, 9), branch, quantity, kind,
        printf('%08x', :copy) || substr(reference, 9), datetime(occurred_at, '-' || :back || ' seconds'),
        seq - :copy * :seqs, sku
       FROM tpl_stockmovement""",
    """INSERT INTO branches_outboxevent (id, seq, type, occurred_at, schema, payload, state, attempts, last_error,
        last_attempt_at, delivered_at)
       SELECT printf('%08x', :copy) || substr(id, 9), seq - :copy * :seqs, type,
        datetime(occurred_at, '-' || :back || ' seconds'), schema, payload, state, attempts, last_error,
        datetime(last_attempt_at, '-' || :back || ' seconds'), datetime(delivered_at, '-' || :back || ' seconds')
       FROM tpl_outboxevent""",
]


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def file_size() -> int:
    """The database and its WAL after a checkpoint that truncated the WAL: from a connection of its own, tried again
    while another connection (the backend's checkpointing thread) keeps it busy, else the WAL VACUUM wrote is
    counted as if it were the database."""
    connection.close()
    raw = sqlite3.connect(DB)
    for _ in range(60):
        if raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
            break
        time.sleep(0.5)
    raw.close()
    return sum(path.stat().st_size for path in (DB, Path(f"{DB}-wal")) if path.exists())


def report(label: str, seconds: float | None = None) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
        per_object = dict(cursor.fetchall())
        cursor.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
        owner = dict(cursor.fetchall())
        cursor.execute("PRAGMA freelist_count")
        free_pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        page = cursor.fetchone()[0]
        counts = {}
        for table in TABLES:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    per_table: dict[str, int] = {}
    for name, size in per_object.items():
        table = owner.get(name, name)
        per_table[table] = per_table.get(table, 0) + size
    size = file_size()
    took = f" ({seconds:.0f} s)" if seconds is not None else ""
    print(f"\n{label}{took}: file {megabytes(size)}, free pages {megabytes(free_pages * page)}")
    for table in TABLES:
        print(f"  {table:28} {counts[table]:>10,} rows  {megabytes(per_table.get(table, 0)):>12} (with indexes)")
    rest = sum(value for key, value in per_table.items() if key not in TABLES)
    print(f"  {'everything else':28} {'':>15}  {megabytes(rest):>12}")
    return {"file": size, "free": free_pages * page}


def template_sales(cashier, end) -> None:
    """TEMPLATE real sales through the service, their times spread over the span's newest slot."""
    skus = list(Product.objects.values_list("sku", flat=True))
    slot = SPAN / (SALES // TEMPLATE)
    rng = random.Random(34)
    for number in range(TEMPLATE):
        lines = [
            services.Line(sku=sku, quantity=Decimal(rng.randint(1, 3)))
            for sku in rng.sample(skus, rng.randint(1, min(8, len(skus))))
        ]
        services.sale_create(
            sale_id=None,
            lines=lines,
            payment_method="cash",
            cashier=cashier,
            now=end - slot * (TEMPLATE - 1 - number) / TEMPLATE,  # later sales, later times
        )
    OutboxEvent.objects.update(state=OutboxState.DELIVERED, attempts=1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE branches_outboxevent SET delivered_at = datetime(occurred_at, '+2 seconds')")


def main() -> None:
    started = time.perf_counter()
    print(
        f"bench/branch_year.py: {SALES:,} sales at one store over {SPAN.days} days, records kept "
        f"{settings.BRANCH_RECORDS_RETENTION_DAYS} days; load {os.getloadavg()[0]:.2f}"
    )
    call_command("migrate", verbosity=0)
    call_command("load_demo_catalog", verbosity=0)
    cashier, _ = staff_user_create(username="bench", role=Role.CASHIER)
    end = timezone.now()
    template_sales(cashier, end)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM branches_outboxevent")
        seq_span = cursor.fetchone()[0]
    copies = SALES // TEMPLATE
    slot_s = int(SPAN.total_seconds() / copies)
    print(f"template: {TEMPLATE} sales through the service in {time.perf_counter() - started:.0f} s")

    filling = time.perf_counter()
    raw = sqlite3.connect(DB, isolation_level=None)
    raw.execute("PRAGMA synchronous=OFF")
    for sql in TEMPLATE_SQL:
        raw.execute(sql, {"above": copies - 1, "seqs": seq_span, "numbers": TEMPLATE})
    for first in range(1, copies, 50):
        raw.execute("BEGIN")
        for copy in range(first, min(first + 50, copies)):
            for sql in COPY_SQL:
                raw.execute(sql, {"copy": copy, "back": copy * slot_s, "seqs": seq_span, "numbers": TEMPLATE})
        raw.execute("COMMIT")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    newest = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    SyncState.objects.update_or_create(pk=1, defaults={"central_high_water": newest, "seq_floor": newest})
    before = report(f"{SPAN.days} days of sales, no housekeeping", time.perf_counter() - filling)

    pruning = time.perf_counter()
    pruned = outbox.outbox_delivered_prune(now=end)
    outbox_s = time.perf_counter() - pruning
    done = housekeeping_run(now=end)
    after = report(
        f"After the nightly housekeeping (outbox_delivered_prune: {pruned:,} events past "
        f"{settings.OUTBOX_RETENTION_DAYS} days in {outbox_s:.0f} s; housekeeping_run: {done.sales:,} sales and "
        f"{done.ledger_rows:,} ledger rows past {settings.BRANCH_RECORDS_RETENTION_DAYS} days in "
        f"{time.perf_counter() - pruning - outbox_s:.0f} s)",
        time.perf_counter() - pruning,
    )
    night = time.perf_counter()
    next_night = housekeeping_run(now=end + timedelta(days=1))
    outbox.outbox_delivered_prune(now=end + timedelta(days=1))
    print(
        f"\nThe next night: {next_night.sales:,} sales and {next_night.ledger_rows:,} ledger rows "
        f"in {time.perf_counter() - night:.1f} s"
    )

    vacuuming = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
    vacuumed = report("After VACUUM (what the live rows take)", time.perf_counter() - vacuuming)
    print(
        f"\nfile: {megabytes(before['file'])} without housekeeping; {megabytes(after['file'])} with it, of which "
        f"{megabytes(after['free'])} free for the next writes; {megabytes(vacuumed['file'])} after VACUUM. "
        f"Total {time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
