"""Branch side: a store's own records stay bounded. Sales (with their lines, payments, returns and refunds) and stock
ledger rows older than BRANCH_RECORDS_RETENTION_DAYS go, and only once head office holds every event that carries
them. Run nightly by housekeeping (ecomarket/housekeeping.py).

What central holds: every seq up to its high-water mark (``SyncState.central_high_water``: events 1..S are all
stored there), less the events this outbox does not have as delivered (parked: central refused them). A ledger row
carries its event's seq; a sale, a void or a return is held when none of its ledger rows (referencing the sale's
or the return's id) has a seq central does not hold. The outbox itself gives up delivered events after
OUTBOX_RETENTION_DAYS, far sooner, so these records add nothing to what a restored head office could ask back.

What stays true: on-hand is still the sum of the ledger (the rows folded become one ``opening`` row per SKU, seq 0,
never sent); no sale number is given again (the sale-number floor is raised past each sale deleted); a sale is
kept while a cash session that took or paid back its money is open (its X report reads them); a return of a
deleted sale is refused as one this store does not know (400 ``unknown_sale``), unless the chain's index still
holds it. Each chunk is its own short transaction: the tills queue for SQLite's write lock.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from branches.models import OutboxEvent, OutboxState, RecoveryState, SyncState
from cash.models import Refund, SaleTender, SessionStatus
from ecomarket.modes import Mode, only
from inventory.models import MovementKind, Return, Sale, StockMovement

CHUNK = 500  # sales, or ledger rows, per transaction


@dataclass
class RecordsPruned:
    sales: int = 0
    ledger_rows: int = 0


@dataclass(frozen=True)
class _Held:
    """What central holds of this branch's history: seqs up to ``high_water`` except ``not_held``; ``unsafe`` the
    references of ledger rows before the cutoff whose seq it does not hold."""

    high_water: int
    not_held: frozenset[int]
    unsafe: frozenset[str]

    def holds(self, seq: int) -> bool:
        return seq <= self.high_water and seq not in self.not_held


@only(Mode.BRANCH)
def branch_records_prune(*, now: datetime | None = None) -> RecordsPruned:
    """Delete sales and fold ledger rows older than BRANCH_RECORDS_RETENTION_DAYS that head office holds; returns
    how many of each. Safe to run twice: what went is gone and the opening rows are not folded again; nothing runs
    while the box is recovering its history from central."""
    done = RecordsPruned()
    if settings.BRANCH_RECORDS_RETENTION_DAYS <= 0:
        return done
    state = SyncState.objects.filter(pk=1).first()
    if state is None or state.recovery_state != RecoveryState.IDLE or not state.central_high_water:
        return done
    cutoff = (now or timezone.now()) - timedelta(days=settings.BRANCH_RECORDS_RETENTION_DAYS)
    held = _held(cutoff=cutoff, high_water=state.central_high_water)
    done.sales = _own_sales_prune(cutoff=cutoff, held=held) + _copies_prune(cutoff=cutoff, held=held)
    done.ledger_rows = _ledger_fold(cutoff=cutoff, held=held)
    return done


def records_housekeeping(now: datetime) -> dict[str, int]:
    """The nightly housekeeping's step at a branch (registered by inventory's AppConfig)."""
    pruned = branch_records_prune(now=now)
    return {"sales": pruned.sales, "ledger_rows": pruned.ledger_rows}


def _held(*, cutoff: datetime, high_water: int) -> _Held:
    not_held = frozenset(
        OutboxEvent.objects.filter(seq__lte=high_water)
        .exclude(state=OutboxState.DELIVERED)
        .values_list("seq", flat=True)
    )
    rows = StockMovement.objects.filter(branch=settings.BRANCH_CODE, occurred_at__lte=cutoff)
    unsafe = set(rows.filter(seq__gt=high_water).values_list("reference", flat=True))
    unsafe |= set(rows.filter(seq__in=not_held).values_list("reference", flat=True))
    return _Held(high_water=high_water, not_held=not_held, unsafe=frozenset(unsafe))


def _own_sales_prune(*, cutoff: datetime, held: _Held) -> int:
    """This store's sales in number order (the unique index), up to the first one newer than the cutoff."""
    deleted, after = 0, 0
    while True:
        with transaction.atomic():
            rows = list(
                Sale.objects.filter(branch=settings.BRANCH_CODE, number__gt=after)
                .order_by("number")
                .values_list("id", "number", "created_at", "voided_at")[:CHUNK]
            )
            if not rows:
                return deleted
            after = rows[-1][1]
            old = [row for row in rows if row[2] <= cutoff]
            deleted += _sales_delete(candidates=old, cutoff=cutoff, held=held)
        if len(old) < len(rows):
            return deleted


def _copies_prune(*, cutoff: datetime, held: _Held) -> int:
    """Copies of other stores' sales that returns here hang on (chain/sale_index.py): few, read by the index's
    ranges either side of this store's code."""
    own = settings.BRANCH_CODE
    copies = Sale.objects.filter(Q(branch__lt=own) | Q(branch__gt=own), created_at__lte=cutoff)
    deleted, after = 0, uuid.UUID(int=0)
    while True:
        with transaction.atomic():
            rows = list(
                copies.filter(id__gt=after)
                .order_by("id")
                .values_list("id", "number", "created_at", "voided_at")[:CHUNK]
            )
            if not rows:
                return deleted
            after = rows[-1][0]
            deleted += _sales_delete(candidates=rows, cutoff=cutoff, held=held)


def _sales_delete(*, candidates: list[tuple], cutoff: datetime, held: _Held) -> int:
    """Delete the candidates whose void and returns are past the cutoff too, held by central, and paid in and out
    of closed sessions only; in the caller's transaction."""
    ids = [sale_id for sale_id, _, _, voided_at in candidates if voided_at is None or voided_at <= cutoff]
    keep = {sale_id for sale_id in ids if str(sale_id) in held.unsafe}
    for return_id, sale_id, created_at in Return.objects.filter(sale_id__in=ids).values_list(
        "id", "sale_id", "created_at"
    ):
        if created_at > cutoff or str(return_id) in held.unsafe:
            keep.add(sale_id)
    keep |= set(
        SaleTender.objects.filter(sale_id__in=ids)
        .exclude(session__status=SessionStatus.CLOSED)
        .exclude(session=None)
        .values_list("sale_id", flat=True)
    )
    keep |= set(
        Refund.objects.filter(sale_id__in=ids)
        .exclude(session__status=SessionStatus.CLOSED)
        .exclude(session=None)
        .values_list("sale_id", flat=True)
    )
    gone = [sale_id for sale_id in ids if sale_id not in keep]
    if not gone:
        return 0
    highest = Sale.objects.filter(id__in=gone, branch=settings.BRANCH_CODE).aggregate(top=Max("number"))["top"]
    if highest:
        SyncState.objects.filter(pk=1, sale_number_floor__lt=highest).update(sale_number_floor=highest)
    Refund.objects.filter(sale_id__in=gone).delete()
    Return.objects.filter(sale_id__in=gone).delete()  # and their lines
    Sale.objects.filter(id__in=gone).delete()  # and their lines and tenders
    return len(gone)


def _ledger_fold(*, cutoff: datetime, held: _Held) -> int:
    """Fold this store's ledger rows in seq order, up to the first one newer than the cutoff or above what central
    holds, into the opening rows; a seq central does not hold is stepped over and its rows stay."""
    folded, after = 0, 0
    rows_of = StockMovement.objects.filter(branch=settings.BRANCH_CODE).order_by("seq")
    fields = ("id", "seq", "product_id", "quantity", "occurred_at")
    while True:
        with transaction.atomic():
            rows = list(rows_of.filter(seq__gt=after).values_list(*fields)[:CHUNK])
            if not rows:
                return folded
            if len(rows) == CHUNK:
                last = rows[-1][1]
                if rows[0][1] == last:  # one event's rows fill the chunk (a count of many SKUs): take them all
                    rows = list(rows_of.filter(seq=last).values_list(*fields))
                else:  # its rows may go on in the next chunk: leave them for it
                    rows = [row for row in rows if row[1] != last]
            take, stop = [], False
            for row in rows:
                if row[4] > cutoff or row[1] > held.high_water:
                    stop = True
                    break
                if held.holds(row[1]):
                    take.append(row)
            after = rows[-1][1]
            folded += _opening_fold(take)
        if stop:
            return folded


def _opening_fold(rows: list[tuple]) -> int:
    """Replace ``rows`` by their sum per SKU added to its opening row; in the caller's transaction."""
    if not rows:
        return 0
    totals: dict[str, Decimal] = {}
    newest: dict[str, datetime] = {}
    for _, _, sku, quantity, occurred_at in rows:
        totals[sku] = totals.get(sku, Decimal("0")) + quantity
        newest[sku] = max(newest.get(sku, occurred_at), occurred_at)
    openings = StockMovement.objects.filter(branch=settings.BRANCH_CODE, seq=0, product_id__in=totals)
    for sku, quantity in openings.values_list("product_id", "quantity"):
        totals[sku] += quantity
    openings.delete()
    for start in range(0, len(rows), CHUNK):
        StockMovement.objects.filter(id__in=[row[0] for row in rows[start : start + CHUNK]]).delete()
    StockMovement.objects.bulk_create(
        StockMovement(
            branch=settings.BRANCH_CODE,
            product_id=sku,
            quantity=total,
            kind=MovementKind.OPENING,
            reference=f"to {newest[sku].date().isoformat()}",  # the day of the newest row it holds
            occurred_at=newest[sku],
            seq=0,
        )
        for sku, total in totals.items()
        if total
    )
    return len(rows)
