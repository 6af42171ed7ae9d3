"""Every statement the inventory app writes by hand instead of through the ORM, each with the reason.

Most are reads on a hot path (a sale, a till's stock read) where building the ORM query cost more than running it,
found with pyinstrument (docs/benchmarks.md, "The sale's reads as plain SQL"; docs/profiles/). The writes are
upserts and moves the ORM cannot express, and central's chain-wide totals, which must read or move their two tables
in one statement to stay exact (``chain_stock_*``). Each runs in the caller's transaction; all of them speak both
SQLite and PostgreSQL.
"""

import uuid
from decimal import Decimal

from django.db import connection

from branches.models import SyncState
from ecomarket.db import rows_accumulate, scalar, table
from ecomarket.quantities import quantity
from inventory.models import ChainStock, ChainStockChange, Product, Sale, StockLevel
from pricing.models import ScheduledPrice

# The highest sale number taken at a branch: its own sales', or the floor a restore set above the numbers central
# holds for it (branches/recovery.py). Plain SQL: one of a sale's reads under the write lock, the maximum over two
# tables in one statement where the ORM needs two queries.
_SALE_NUMBER_HIGHEST_SQL = (
    "SELECT MAX(m) FROM (SELECT MAX(number) AS m FROM {sale} WHERE branch = %s "
    "UNION ALL SELECT sale_number_floor FROM {state} WHERE id = 1) t"
)

# Add each (branch, SKU)'s delta to the projection, creating the row the first time. Plain SQL: the ORM's
# ``bulk_create(update_conflicts=True)`` can only overwrite a stored value with the new one, not add to it, and an
# addition is what keeps the projection independent of the order events arrive in.
_LEVELS_ADD_SQL = """
INSERT INTO {table} (branch, sku, on_hand, updated_at) VALUES {values}
ON CONFLICT (branch, sku) DO UPDATE SET on_hand = {table}.on_hand + excluded.on_hand, updated_at = excluded.updated_at
"""
_LEVELS_ADD_ROWS = 500  # rows per statement, four parameters each


def sale_number_next(*, branch: str) -> int:
    """The number the next sale at ``branch`` takes: one above every number taken there and above the restore's
    floor. Unique only when read in the transaction that takes it, under the write lock (``sale_create``)."""
    return (scalar(_SALE_NUMBER_HIGHEST_SQL.format(sale=table(Sale), state=table(SyncState)), [branch]) or 0) + 1


def fingerprint_stored(model, *, pk: uuid.UUID) -> str | None:
    """The request fingerprint stored with ``model``'s row ``pk``, or None when there is no such row. Plain SQL:
    every write asks this first and nearly always finds nothing, so one plain query, not a model loaded."""
    return scalar(f"SELECT fingerprint FROM {table(model)} WHERE id = %s", [_uuid_db(pk)])


def _uuid_db(value: uuid.UUID | str) -> uuid.UUID | str:
    """A UUID as Django stores it in this database (SQLite: 32 hex digits; PostgreSQL: its uuid type)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def products_read(*, skus: list[str], active_only: bool) -> list[tuple[str, str, Decimal, str]]:
    """``(sku, name, price, unit)`` of the products named (the active ones only, if ``active_only``). Plain SQL:
    building the ORM's ``in_bulk`` cost more than running it (docs/benchmarks.md)."""
    placeholders = ", ".join(["%s"] * len(skus))
    active = "active AND " if active_only else ""
    price = Product._meta.get_field("price")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku, name, price, unit FROM {table(Product)} WHERE {active}sku IN ({placeholders})", skus
        )
        return [(sku, name, price.to_python(value), unit) for sku, name, value, unit in cursor.fetchall()]


def stock_on_hand(*, branch: str, skus: list[str]) -> dict[str, Decimal]:
    """The on-hand of each SKU named that ``branch`` has a level for. Plain SQL: one of a sale's reads under the
    write lock, where building the ORM query cost more than running it (docs/benchmarks.md)."""
    placeholders = ", ".join(["%s"] * len(skus))
    on_hand = StockLevel._meta.get_field("on_hand")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku, on_hand FROM {table(StockLevel)} WHERE branch = %s AND sku IN ({placeholders})",
            [branch, *skus],
        )
        return {sku: on_hand.to_python(value) for sku, value in cursor.fetchall()}


def stock_levels_add(*, deltas: dict[tuple[str, str], Decimal], now) -> None:
    """Add each ``(branch, sku)``'s delta to its on-hand level (a new level starts at the delta)."""
    rows = list(deltas.items())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _LEVELS_ADD_ROWS):
            chunk = rows[start : start + _LEVELS_ADD_ROWS]
            params = []
            for (branch, sku), delta in chunk:
                params += [branch, sku, delta, now]
            sql = _LEVELS_ADD_SQL.format(
                table=table(StockLevel),
                values=", ".join(["(%s, %s, %s, %s)"] * len(chunk)),
            )
            cursor.execute(sql, params)


def product_stock_row(*, branch: str, sku: str, now) -> tuple | None:
    """``(sku, name, unit, price, barcode, plu, on_hand, price in force at now)`` of one active product at
    ``branch`` (on-hand 0 where the branch never held it; the price in force is the latest scheduled price at or
    before ``now``, else its own), or None. Plain SQL: a till asks this for every item it scans, and the ORM's
    ``Subquery`` annotation for the on-hand took longer to build than the query took to run."""
    scheduled = (
        f"SELECT sp.price FROM {table(ScheduledPrice)} sp WHERE sp.sku = p.sku AND sp.effective_at <= %s "
        "ORDER BY sp.effective_at DESC, sp.created_at DESC LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.sku, p.name, p.unit, p.price, p.barcode, p.plu, COALESCE(s.on_hand, 0), ({scheduled}) "
            f"FROM {table(Product)} p LEFT JOIN {table(StockLevel)} s ON s.sku = p.sku AND s.branch = %s "
            "WHERE p.sku = %s AND p.active",
            [ScheduledPrice._meta.get_field("effective_at").get_db_prep_value(now, connection), branch, sku],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    price, on_hand = Product._meta.get_field("price"), StockLevel._meta.get_field("on_hand")
    sku, name, unit, price_value, barcode, plu, on_hand_value, scheduled_value = row
    base = price.to_python(price_value)
    in_force = base if scheduled_value is None else price.to_python(scheduled_value)
    return sku, name, unit, base, barcode, plu, on_hand.to_python(on_hand_value), in_force


# The chain's on-hand per SKU: the folded totals plus the changes not folded yet, in one statement (one snapshot),
# so a change is counted exactly once whether or not a fold has moved it. Formatted with ``where`` empty or
# ``WHERE sku = %s`` (then the SKU is passed twice).
_CHAIN_STOCK_SQL = """
SELECT sku, SUM(on_hand) FROM (
    SELECT sku, on_hand FROM {stock} {where} UNION ALL SELECT sku, delta FROM {changes} {where}
) chain GROUP BY sku ORDER BY sku
"""
# Take the oldest changes out (DELETE ... RETURNING: the rows deleted are exactly the rows returned, whatever commits
# meanwhile; a concurrent fold skips the rows this one deleted). The oldest are one range of ids up to a bound computed
# once (a scalar subquery): the work is linear whatever the planner believes of the table's size. ``id IN (SELECT ...
# LIMIT n)`` was not: after the fold's VACUUM ran beside a REPEATABLE READ transaction, the table kept its pages with no
# row recorded, the planner expected one row and chose a nested loop (docs/benchmarks.md, "Figures behind choices in the
# code"). A change with a lower id that commits later is invisible to this statement, and is taken by the next.
_CHAIN_CHANGES_TAKE_SQL = (
    "DELETE FROM {changes} WHERE id <= (SELECT max(id) FROM (SELECT id FROM {changes} ORDER BY id LIMIT %s) oldest) "
    "RETURNING sku, delta"
)
# ... and add them to the totals (ecomarket.db.rows_accumulate).
# The totals recomputed from the levels, less the changes not folded yet: one statement, so a transaction that
# commits meanwhile is in both or in neither.
_CHAIN_STOCK_REBUILD_SQL = """
INSERT INTO {stock} (sku, on_hand)
SELECT sku, SUM(on_hand) FROM (
    SELECT sku, on_hand FROM {levels} UNION ALL SELECT sku, -delta FROM {changes}
) chain GROUP BY sku
"""
# pg_advisory_xact_lock's key for "the chain totals are being folded or rebuilt": b"ECM_CHST" as a bigint.
_CHAIN_STOCK_LOCK_KEY = 0x45434D5F43485354


def chain_stock_changes_add(*, changes: dict[str, Decimal]) -> None:
    """Add one change row per SKU, in the caller's transaction. Plain SQL: one round trip for the few rows a push
    brings (COPY, as for the ledger rows, takes two)."""
    rows = list(changes.items())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _LEVELS_ADD_ROWS):
            chunk = rows[start : start + _LEVELS_ADD_ROWS]
            cursor.execute(
                f"INSERT INTO {table(ChainStockChange)} (sku, delta) VALUES {', '.join(['(%s, %s)'] * len(chunk))}",
                [value for row in chunk for value in row],
            )


def chain_stock_read(*, sku: str = "") -> list[tuple[str, Decimal]]:
    """``(sku, on_hand)`` chain-wide, in SKU order (the one SKU if given)."""
    where = "WHERE sku = %s" if sku else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _CHAIN_STOCK_SQL.format(stock=table(ChainStock), changes=table(ChainStockChange), where=where),
            [sku, sku] if sku else [],
        )
        return [(row_sku, quantity(total)) for row_sku, total in cursor.fetchall()]


def chain_stock_changes_take(*, limit: int) -> int:
    """Delete the ``limit`` oldest unfolded changes and add them to the totals, in the caller's transaction (after
    ``chain_stock_lock``); returns how many it took."""
    with connection.cursor() as cursor:
        cursor.execute(_CHAIN_CHANGES_TAKE_SQL.format(changes=table(ChainStockChange)), [limit])
        taken = cursor.fetchall()
        per_sku: dict[str, Decimal] = {}
        for sku, delta in taken:
            per_sku[sku] = per_sku.get(sku, Decimal("0")) + quantity(delta)
    # In SKU order: two folds lock the same rows in the same order.
    rows_accumulate(ChainStock, keys=("sku",), rows=[{"sku": sku, "on_hand": per_sku[sku]} for sku in sorted(per_sku)])
    return len(taken)


def chain_stock_refill() -> None:
    """Empty the totals and fill them again from the levels, in the caller's transaction (after
    ``chain_stock_lock``)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table(ChainStock)}")
        cursor.execute(
            _CHAIN_STOCK_REBUILD_SQL.format(
                stock=table(ChainStock), levels=table(StockLevel), changes=table(ChainStockChange)
            )
        )


def chain_stock_vacuum() -> None:
    """VACUUM the chain totals' two tables (PostgreSQL, outside a transaction; elsewhere nothing to do): a few ms
    for the rows one fold leaves dead."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {table(ChainStockChange)}, {table(ChainStock)}")


def chain_stock_lock() -> None:
    """Serialise folds and rebuilds of the chain totals until the caller's transaction ends (a rebuild computed
    while a fold moves changes would count them twice). PostgreSQL: a transaction-scoped advisory lock (right
    behind PgBouncer); SQLite: nothing to do, its writers run one at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_STOCK_LOCK_KEY])
