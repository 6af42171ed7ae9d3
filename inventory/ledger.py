"""The stock ledger both modes share: write movements with their on-hand projection, and rebuild the projection.

A branch writes its own movements as it sells and counts (inventory/services.py); central writes every branch's as
it ingests their events (branches/ingest.py). Either way the ledger rows and the projection move together, in the
caller's transaction, and the projection is a sum, so it does not depend on the order events arrive in.

Central also keeps the chain's on-hand per SKU (what ``/api/v1/inventory/totals`` answers): summing a million
levels (500 branches x 2,000 SKUs) on every request was the cost (docs/scale-runs.md "Ledger growth"). Each write adds
its change per SKU as a new ChainStockChange row in its own transaction, a periodic job folds those rows into
ChainStock (a row per SKU), and a read adds the two up in one statement: exact at every instant, with no row that
every store's push would have to update.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from branches.models import Branch
from ecomarket.db import rows_copy
from ecomarket.modes import Mode, only
from ecomarket.quantities import quantity
from inventory import sql
from inventory.models import StockLevel, StockMovement


class Movement(NamedTuple):
    """One ledger row to write (a StockMovement without the model instance, which cost more to make than its row
    to write at ingestion rates). The fields are StockMovement's, by attname, in the order ``rows_copy`` is told."""

    branch: str
    product_id: str  # the SKU
    quantity: Decimal
    kind: str
    reference: str
    occurred_at: datetime
    seq: int


def stock_movements_apply(
    *, branch: str, seq: int, kind: str, reference: str, occurred_at: datetime, deltas: dict[str, Decimal]
) -> None:
    """Write one ledger row per non-zero delta and move the on-hand projection by the same amounts, in the
    caller's transaction. Zero deltas (a count that found what the books said) write nothing."""
    stock_ledger_write(
        movements=[
            Movement(branch, sku, delta, kind, reference, occurred_at, seq) for sku, delta in deltas.items() if delta
        ]
    )


def stock_ledger_write(*, movements: list[Movement]) -> None:
    """Insert the ledger rows in bulk and add their sum per (branch, SKU) to the projection with one upsert (at
    central, their sum per SKU to the chain's changes as well). Additions commute, so the projection does not depend
    on the order events arrive in. Runs in the caller's transaction."""
    if not movements:
        return
    rows_copy(StockMovement, ("id", *Movement._fields), [(uuid.uuid4(), *movement) for movement in movements])
    totals: dict[tuple[str, str], Decimal] = {}
    for movement in movements:
        key = (movement.branch, movement.product_id)
        totals[key] = totals.get(key, Decimal("0")) + movement.quantity
    sql.stock_levels_add(deltas=totals, now=timezone.now())
    if settings.IS_CENTRAL:
        chain: dict[str, Decimal] = {}
        for (_, sku), delta in totals.items():
            chain[sku] = chain.get(sku, Decimal("0")) + delta
        sql.chain_stock_changes_add(changes=chain)


@dataclass(frozen=True)
class LevelFix:
    """One on-hand figure the rebuild corrected: ``was`` None where the projection had no row."""

    branch: str
    sku: str
    was: Decimal | None
    now: Decimal


def stock_levels_rebuild() -> list[LevelFix]:
    """Recompute every on-hand figure from the ledger, fix the ones that differ, and report each fix (Saleor's
    repair-task shape). At a branch (SQLite) one transaction holds the write lock for the run, so no sale lands
    half-counted. At central (PostgreSQL, where ingestion runs beside it) each branch is rebuilt in a transaction
    of its own under the branch's row lock, the lock ingestion holds while it writes the ledger: an ingest
    committing meanwhile is waited for, never counted on a stale sum and then overwritten."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            fixes = _levels_rebuild(branches=None)
    else:
        fixes = []
        codes = set(StockMovement.objects.values_list("branch", flat=True).distinct())
        codes |= set(StockLevel.objects.values_list("branch", flat=True).distinct())
        for code in sorted(codes):
            with transaction.atomic():
                list(Branch.objects.select_for_update().filter(pk=code).values_list("pk"))
                fixes += _levels_rebuild(branches=[code])
    if settings.IS_CENTRAL:
        chain_stock_rebuild()  # the levels fixed above moved without a change row: the chain totals follow them
    return fixes


def _levels_rebuild(*, branches: list[str] | None) -> list[LevelFix]:
    """Rebuild the levels of ``branches`` (all of them for None), in the caller's transaction."""
    movements, levels = StockMovement.objects.all(), StockLevel.objects.all()
    if branches is not None:
        movements, levels = movements.filter(branch__in=branches), levels.filter(branch__in=branches)
    truth = {
        (row["branch"], row["product_id"]): row["total"]
        for row in movements.values("branch", "product_id").annotate(total=Sum("quantity"))
    }
    stored = {(level.branch, level.product_id): level for level in levels}
    fixes = []
    for key in truth.keys() | stored.keys():
        want = quantity(truth.get(key))
        level = stored.get(key)
        if level is None:
            StockLevel.objects.create(branch=key[0], product_id=key[1], on_hand=want)
            fixes.append(LevelFix(branch=key[0], sku=key[1], was=None, now=want))
        elif level.on_hand != want:
            fixes.append(LevelFix(branch=key[0], sku=key[1], was=level.on_hand, now=want))
            level.on_hand = want
            level.save(update_fields=["on_hand", "updated_at"])
    return sorted(fixes, key=lambda fix: (fix.branch, fix.sku))


# Changes folded per transaction: a fold after the beat was down for an hour moves them in bounded steps.
CHAIN_FOLD_ROWS = 10_000


@only(Mode.CENTRAL)
def chain_stock_fold() -> int:
    """Move the chain's unfolded changes into the per-SKU totals; returns how many changes it folded. Each step
    deletes the changes it adds in the same transaction, so a change is counted once whether a reader comes before,
    during or after it; safe to run twice or concurrently (a second fold finds the rows gone). Then the two tables
    are vacuumed: every fold leaves as many dead rows as it moved, which a read would otherwise scan until
    autovacuum comes by (it may be slow to, or off)."""
    folded = 0
    while True:
        with transaction.atomic():
            sql.chain_stock_lock()
            taken = sql.chain_stock_changes_take(limit=CHAIN_FOLD_ROWS)
        folded += taken
        if taken < CHAIN_FOLD_ROWS:
            break
    if folded:
        sql.chain_stock_vacuum()
    return folded


@only(Mode.CENTRAL)
def chain_stock_rebuild() -> None:
    """Recompute the chain's per-SKU totals from the on-hand levels (after a rebuild of the levels, or a write that
    went around ``stock_ledger_write``). Exact while stores keep pushing: the totals are the levels less the
    changes not folded yet, read in one statement."""
    with transaction.atomic():
        sql.chain_stock_lock()
        sql.chain_stock_refill()
