"""Central's chain-wide on-hand per SKU (inventory/ledger.py): folded totals plus the changes since, exact at every
moment (docs/scale-runs.md "Ledger growth")."""

import io
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from branches.tests.factories import Events, branch_client, push
from ecomarket.db import table
from inventory import sql
from inventory.ledger import CHAIN_FOLD_ROWS, chain_stock_fold, chain_stock_rebuild, stock_movements_apply
from inventory.models import ChainStock, ChainStockChange, StockLevel, Unit
from inventory.tests.factories import product_make
from reconciliation.tests.concurrency import TIMEOUT, Blocker, Worker

pytestmark = pytest.mark.mode("central")


@pytest.fixture
def chain(transactional_db):
    """Two branches that received bananas and milk and sold some, through the real ingestion."""
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    b001, _ = branch_client("B001")
    b002, _ = branch_client("B002")
    streams = Events("B001"), Events("B002")
    push(b001, [streams[0].received(FRU_BANANA="10", LAC_LECHE_1L="6"), streams[0].sale(FRU_BANANA="1.250")])
    push(b002, [streams[1].received(FRU_BANANA="4")], branch="B002")
    return (b001, streams[0]), (b002, streams[1])


def totals(client, **params) -> dict[str, str]:
    return {row["sku"]: row["on_hand"] for row in client.get("/api/v1/inventory/totals", params).json()}


def level_sums() -> dict[str, str]:
    sums: dict[str, Decimal] = {}
    for level in StockLevel.objects.all():
        sums[level.product_id] = sums.get(level.product_id, Decimal("0")) + level.on_hand
    return {sku: f"{value:.3f}" for sku, value in sums.items()}


def test_totals_count_a_push_the_moment_it_is_stored_before_any_fold(chain, manager_client):
    assert ChainStock.objects.count() == 0
    assert totals(manager_client) == {"FRU-BANANA": "12.750", "LAC-LECHE-1L": "6.000"}


def test_a_fold_moves_the_changes_into_the_totals_without_changing_the_answer(chain, manager_client):
    before = totals(manager_client)
    pending = ChainStockChange.objects.count()

    folded = chain_stock_fold()

    assert folded == pending > 0
    assert not ChainStockChange.objects.exists()
    assert dict(ChainStock.objects.values_list("sku", "on_hand")) == {
        "FRU-BANANA": Decimal("12.750"),
        "LAC-LECHE-1L": Decimal("6"),
    }
    assert totals(manager_client) == before == level_sums()
    assert chain_stock_fold() == 0
    assert totals(manager_client) == before


def test_totals_after_a_fold_add_what_was_pushed_since(chain, manager_client):
    (b001, stream), (b002, other) = chain
    chain_stock_fold()

    push(b001, [stream.sale(FRU_BANANA="2", LAC_LECHE_1L="1")])
    push(b002, [other.received(LAC_LECHE_1L="3")], branch="B002")

    assert totals(manager_client) == {"FRU-BANANA": "10.750", "LAC-LECHE-1L": "8.000"} == level_sums()
    assert totals(manager_client, sku="LAC-LECHE-1L") == {"LAC-LECHE-1L": "8.000"}
    assert manager_client.get("/inventario-global").json() == {"FRU-BANANA": 10.75, "LAC-LECHE-1L": 8}


def _write_held(written: threading.Event, go: threading.Event) -> None:
    """A stock write (an ingest's ledger rows, levels and chain change) that stays uncommitted until ``go``."""
    with transaction.atomic():
        stock_movements_apply(
            branch="B002",
            seq=99,
            kind="receipt",
            reference="held",
            occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
            deltas={"FRU-BANANA": Decimal("5")},
        )
        written.set()
        assert go.wait(TIMEOUT)


@pytest.mark.parametrize("repair", [chain_stock_fold, chain_stock_rebuild])
def test_a_write_committing_after_a_fold_or_rebuild_read_is_counted_once(chain, manager_client, repair):
    written, go = threading.Event(), threading.Event()
    writer = Worker(lambda: _write_held(written, go))
    writer.start()
    assert written.wait(TIMEOUT)
    try:
        repair()  # sees neither the uncommitted level nor its change
    finally:
        go.set()
    writer.outcome()

    assert totals(manager_client) == {"FRU-BANANA": "17.750", "LAC-LECHE-1L": "6.000"} == level_sums()
    chain_stock_fold()
    assert totals(manager_client) == {"FRU-BANANA": "17.750", "LAC-LECHE-1L": "6.000"}


def _rows_visited(plan: dict) -> int:
    """Rows every node of an EXPLAIN ANALYZE plan produced, times the loops it ran: the work the statement did."""
    return plan["Actual Rows"] * plan["Actual Loops"] + sum(_rows_visited(child) for child in plan.get("Plans", []))


def test_a_fold_reads_each_change_a_bounded_number_of_times_when_the_planner_believes_the_table_empty(transactional_db):
    # The state the fold's own VACUUM leaves whenever a REPEATABLE READ transaction (a reconciliation pass, a
    # report) overlaps it: the deleted rows cannot be removed yet, so the table keeps its pages, and VACUUM records
    # it as holding no rows. The planner then estimates one row, and a nested loop costs changes x changes.
    ChainStockChange.objects.bulk_create(ChainStockChange(sku="FRU-BANANA", delta=Decimal("1")) for _ in range(3000))
    holder = Blocker("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    try:
        holder.connection.execute("SELECT count(*) FROM inventory_chainstock")  # takes its snapshot
        ChainStockChange.objects.all().delete()
        sql.chain_stock_vacuum()
    finally:
        holder.release()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [ChainStockChange._meta.db_table])
        assert cursor.fetchone()[0] == 0  # what the planner believes ...
    changes = 2000
    ChainStockChange.objects.bulk_create(
        ChainStockChange(sku="FRU-BANANA", delta=Decimal("-1")) for _ in range(changes)
    )

    take = sql._CHAIN_CHANGES_TAKE_SQL.format(changes=table(ChainStockChange))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {take}", [CHAIN_FOLD_ROWS])
        (plan,) = cursor.fetchone()[0]
        transaction.set_rollback(True)

    # ... and the work stays proportional to the changes taken (a hash join or a range scan visits each a few
    # times; the nested loop visited them 2,000 x 1,000 times).
    assert plan["Plan"]["Actual Rows"] == changes
    assert _rows_visited(plan["Plan"]) <= 10 * changes
    assert chain_stock_fold() == changes


def test_rebuilding_the_levels_brings_the_chain_totals_back_to_the_ledger(chain, manager_client):
    chain_stock_fold()
    StockLevel.objects.filter(branch="B001", product_id="FRU-BANANA").update(on_hand=Decimal("999"))
    ChainStock.objects.filter(sku="LAC-LECHE-1L").update(on_hand=Decimal("1"))

    call_command("rebuild_stock_levels", stdout=io.StringIO())

    assert totals(manager_client) == {"FRU-BANANA": "12.750", "LAC-LECHE-1L": "6.000"} == level_sums()


def test_install_schedule_folds_the_chain_totals_on_the_beat(transactional_db):
    from django_celery_beat.models import PeriodicTask

    call_command("install_schedule", stdout=io.StringIO())

    task = PeriodicTask.objects.get(task="inventory.tasks.chain_stock_fold_task")
    assert task.enabled and task.interval.every == settings.CHAIN_STOCK_FOLD_INTERVAL_S
