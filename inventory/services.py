"""Stock writes: sales, voids, returns, receipts and counts (branch mode), and the ledger write both modes share.

Every branch write goes through :func:`stock_change_record`, which writes the ledger rows, the on-hand projection
and exactly one outbox event in the caller's transaction. Each public service owns that transaction (BEGIN
IMMEDIATE on SQLite: it holds the write lock from its first statement, so what it reads stays true until it
commits) and is idempotent on the client-chosen id.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status

from branches.models import IncomingTransfer, OutboxEvent, SyncState
from branches.outbox import outbox_event_append
from ecomarket import metrics, modes
from ecomarket.db import rows_insert, scalar, table
from ecomarket.errors import DomainError
from inventory.models import (
    MovementKind,
    Product,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    SaleStatus,
    StockDocument,
    StockDocumentKind,
    StockLevel,
    StockMovement,
    Unit,
)

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
NEXT_NUMBER_SQL = (
    "SELECT MAX(m) FROM (SELECT MAX(number) AS m FROM {sale} WHERE branch = %s "
    "UNION ALL SELECT sale_number_floor FROM {state} WHERE id = 1) t"
)


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: Decimal


def _qty(value: Decimal) -> str:
    return str(Decimal(value).quantize(MILLI))


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


def _fingerprint(**request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _replay(model, *, pk: uuid.UUID, fingerprint: str):
    """The idempotency rule every write shares: the same id with the same body returns what was stored; the same id
    with another body is refused with 409, never merged."""
    # Nearly every call finds nothing: ask for the fingerprint alone (one plain query) before loading a row.
    stored = scalar(f"SELECT fingerprint FROM {table(model)} WHERE id = %s", [_uuid_db(pk)])
    if stored is None:
        return None
    existing = model.objects.get(pk=pk)
    if existing.fingerprint != fingerprint:
        raise DomainError(
            "idempotency_conflict",
            f"{model._meta.verbose_name} {pk} already exists with a different body.",
            status=status.HTTP_409_CONFLICT,
        )
    return existing


def _uuid_db(value: uuid.UUID | str) -> str:
    """A UUID as Django stores it in this database (SQLite: 32 hex digits; PostgreSQL: its uuid type)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


@dataclass(frozen=True)
class CatalogEntry:
    """What a stock write needs of a product: read with one plain query (the ORM's ``in_bulk`` took a quarter of
    a sale's time to build)."""

    sku: str
    name: str
    price: Decimal
    sold_by_weight: bool


def _products(lines: list[Line], *, active_only: bool = True) -> dict[str, CatalogEntry]:
    """The products the lines name (active ones only, unless ``active_only`` is false: goods sold before a product
    was withdrawn can still come back); an unknown SKU or a fraction of a unit-sold product is refused."""
    skus = [line.sku for line in lines]
    placeholders = ", ".join(["%s"] * len(skus))
    active = "active AND " if active_only else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku, name, price, unit FROM {table(Product)} WHERE {active}sku IN ({placeholders})", skus
        )
        price = Product._meta.get_field("price")
        products = {
            sku: CatalogEntry(sku=sku, name=name, price=price.to_python(value), sold_by_weight=unit == Unit.KILOGRAM)
            for sku, name, value, unit in cursor.fetchall()
        }
    for index, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None:
            raise DomainError(
                "unknown_sku",
                f"Unknown SKU {line.sku!r}.",
                fields={"lines": {str(index): {"sku": ["Unknown SKU."]}}},
                extra={"sku": line.sku},
            )
        if not product.sold_by_weight and line.quantity != line.quantity.to_integral_value():
            raise DomainError(
                "fractional_quantity",
                f"{product.name} is sold by the unit; {line.quantity} is not a whole number.",
                fields={"lines": {str(index): {"quantity": ["Must be a whole number for this product."]}}},
                extra={"sku": line.sku},
            )
    return products


def stock_on_hand(*, branch: str, skus: list[str]) -> dict[str, Decimal]:
    with connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(skus))
        cursor.execute(
            f"SELECT sku, on_hand FROM {table(StockLevel)} WHERE branch = %s AND sku IN ({placeholders})",
            [branch, *skus],
        )
        field = StockLevel._meta.get_field("on_hand")
        return {sku: field.to_python(on_hand) for sku, on_hand in cursor.fetchall()}


def stock_movements_apply(
    *, branch: str, seq: int, kind: str, reference: str, occurred_at: datetime, deltas: dict[str, Decimal]
) -> None:
    """Write one ledger row per non-zero delta and move the on-hand projection by the same amounts, in the
    caller's transaction. Zero deltas (a count that found what the books said) write nothing."""
    stock_ledger_write(
        movements=[
            StockMovement(
                branch=branch,
                product_id=sku,
                quantity=delta,
                kind=kind,
                reference=reference,
                occurred_at=occurred_at,
                seq=seq,
            )
            for sku, delta in deltas.items()
            if delta
        ]
    )


_LEVELS_ADD_SQL = """
INSERT INTO {table} (branch, sku, on_hand, updated_at) VALUES {values}
ON CONFLICT (branch, sku) DO UPDATE SET on_hand = {table}.on_hand + excluded.on_hand, updated_at = excluded.updated_at
"""


def stock_ledger_write(*, movements: list[StockMovement]) -> None:
    """The ledger write both modes share: insert the rows in bulk and add their sum per (branch, SKU) to the
    projection with one upsert (PostgreSQL and SQLite both speak ``ON CONFLICT ... DO UPDATE``). Additions
    commute, so the projection does not depend on the order events arrive in. Runs in the caller's transaction."""
    if not movements:
        return
    rows_insert(StockMovement, movements)
    totals: dict[tuple[str, str], Decimal] = {}
    for movement in movements:
        key = (movement.branch, movement.product_id)
        totals[key] = totals.get(key, Decimal("0")) + movement.quantity
    now = timezone.now()
    rows = list(totals.items())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params = []
            for (branch, sku), delta in chunk:
                params += [branch, sku, delta, now]
            sql = _LEVELS_ADD_SQL.format(
                table=connection.ops.quote_name(StockLevel._meta.db_table),
                values=", ".join(["(%s, %s, %s, %s)"] * len(chunk)),
            )
            cursor.execute(sql, params)


def stock_change_record(
    *,
    event_type: str,
    payload: dict,
    kind: str,
    reference: str,
    deltas: dict[str, Decimal],
    occurred_at: datetime,
) -> OutboxEvent:
    """The one way a branch changes stock: ledger rows, projection and one outbox event, in the caller's
    transaction, all carrying the event's seq."""
    modes.require(modes.Mode.BRANCH)
    event = outbox_event_append(type=event_type, payload=payload, occurred_at=occurred_at)
    stock_movements_apply(
        branch=settings.BRANCH_CODE,
        seq=event.seq,
        kind=kind,
        reference=reference,
        occurred_at=occurred_at,
        deltas=deltas,
    )
    return event


# ----------------------------------------------------------------------------------------------------------------
# Sales
# ----------------------------------------------------------------------------------------------------------------


def sale_create(
    *, sale_id: uuid.UUID | None, lines: list[Line], payment_method: str, cashier, customer: dict | None = None
) -> tuple[Sale, bool]:
    """Record a sale and return ``(sale, created)``.

    Idempotent on ``sale_id``: a retry after a lost answer gets the stored sale back (created False). Stock is
    checked under the write lock: with the default policy a line above on-hand is refused with 409
    ``insufficient_stock``; with ``BRANCH_ALLOW_NEGATIVE_STOCK`` the sale goes through and is flagged oversold.
    ``customer`` ({name, phone, email}, as the till took it) travels to head office in the sale event only when
    the sale is oversold, so it can reach the customer; for any other sale it is dropped, never stored.
    """
    sale_id = sale_id or uuid.uuid4()
    fingerprint = _fingerprint(
        lines=sorted((line.sku, _qty(line.quantity)) for line in lines),
        payment_method=payment_method,
        # Whether a contact came, not the contact: the fingerprint outlives it (and a hashed phone number is
        # easily guessed back). Absent: the fingerprint every earlier sale got.
        **({"customer": True} if customer else {}),
    )
    branch = settings.BRANCH_CODE
    with transaction.atomic():
        existing = _replay(Sale, pk=sale_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        products = _products(lines)
        on_hand = stock_on_hand(branch=branch, skus=[line.sku for line in lines])
        oversold = False
        for line in lines:
            available = on_hand.get(line.sku, Decimal("0"))
            if line.quantity > available:
                if not settings.BRANCH_ALLOW_NEGATIVE_STOCK:
                    raise DomainError(
                        "insufficient_stock",
                        f"Only {_qty(available)} of {line.sku} in stock, {_qty(line.quantity)} asked.",
                        status=status.HTTP_409_CONFLICT,
                        extra={"sku": line.sku, "available": _qty(available)},
                    )
                oversold = True
        now = timezone.now()
        # Above the numbers central holds for a branch recovering from a restore (branches/recovery.py).
        number = (scalar(NEXT_NUMBER_SQL.format(sale=table(Sale), state=table(SyncState)), [branch]) or 0) + 1
        priced = [
            (line, products[line.sku].price, (line.quantity * products[line.sku].price).quantize(CENT, ROUND_HALF_UP))
            for line in lines
        ]
        sale = Sale(
            id=sale_id,
            branch=branch,
            number=number,
            payment_method=payment_method,
            total=sum((line_total for _, _, line_total in priced), Decimal("0.00")),
            cashier=cashier,
            oversold=oversold,
            fingerprint=fingerprint,
            created_at=now,
        )
        sale_lines = [
            SaleLine(sale=sale, product_id=line.sku, quantity=line.quantity, unit_price=price, line_total=total)
            for line, price, total in priced
        ]
        # Plain inserts (ecomarket.db.rows_insert): the ORM's create() and bulk_create() compile a query per call.
        rows_insert(Sale, [sale])
        rows_insert(SaleLine, sale_lines)
        # The answer is built from these: no query to read back what was just written.
        sale._prefetched_objects_cache = {"lines": SaleLine.objects.none()}
        sale._prefetched_objects_cache["lines"]._result_cache = sale_lines
        stock_change_record(
            event_type="sale.completed",
            payload={
                "sale_id": str(sale.id),
                "number": number,
                "lines": [
                    {"sku": line.sku, "quantity": _qty(line.quantity), "unit_price": _money(price)}
                    for line, price, _ in priced
                ],
                "total": _money(sale.total),
                "payment_method": payment_method,
                "cashier": cashier.get_username() if cashier else "",
                **({"customer": customer} if customer and oversold else {}),
            },
            kind=MovementKind.SALE,
            reference=str(sale.id),
            deltas={line.sku: -line.quantity for line in lines},
            occurred_at=now,
        )
    metrics.SALES.inc()
    return sale, True


def sale_void(*, sale_id: uuid.UUID, reason: str, user) -> tuple[Sale, bool]:
    """Void a whole sale: its stock goes back on the shelf. Idempotent: voiding a voided sale changes nothing and
    returns ``(sale, False)``. A sale with returns cannot be voided (the returned goods are already back)."""
    with transaction.atomic():
        sale = Sale.objects.filter(pk=sale_id, branch=settings.BRANCH_CODE).first()
        if sale is None:
            raise DomainError("not_found", f"No sale {sale_id} at this branch.", status=status.HTTP_404_NOT_FOUND)
        if sale.status == SaleStatus.VOIDED:
            return sale, False
        if sale.returns.exists():
            raise DomainError(
                "sale_has_returns",
                f"Sale {sale.number} has returns; take a return for the rest instead of voiding it.",
                status=status.HTTP_409_CONFLICT,
            )
        now = timezone.now()
        sale.status, sale.voided_at, sale.void_reason = SaleStatus.VOIDED, now, reason
        sale.save(update_fields=["status", "voided_at", "void_reason"])
        stock_change_record(
            event_type="sale.voided",
            payload={"sale_id": str(sale.id), "reason": reason},
            kind=MovementKind.VOID,
            reference=str(sale.id),
            deltas={line.product_id: line.quantity for line in sale.lines.all()},
            occurred_at=now,
        )
    metrics.VOIDS.inc()
    return sale, True


def return_create(
    *, return_id: uuid.UUID | None, sale_id: uuid.UUID, lines: list[Line], reason: str, cashier
) -> tuple[Return, bool]:
    """Take goods back from a sale. Each line may return at most what the sale sold less what earlier returns took
    back; a voided sale takes no returns. Idempotent on ``return_id``."""
    return_id = return_id or uuid.uuid4()
    fingerprint = _fingerprint(
        sale_id=str(sale_id), lines=sorted((line.sku, _qty(line.quantity)) for line in lines), reason=reason
    )
    with transaction.atomic():
        existing = _replay(Return, pk=return_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        sale = Sale.objects.filter(pk=sale_id, branch=settings.BRANCH_CODE).first()
        if sale is None:
            raise DomainError("unknown_sale", f"No sale {sale_id} at this branch.", fields={"sale_id": ["Unknown."]})
        if sale.status == SaleStatus.VOIDED:
            raise DomainError("sale_voided", f"Sale {sale.number} was voided.", status=status.HTTP_409_CONFLICT)
        _products(lines, active_only=False)  # whole units of unit-sold goods
        sold = {line.product_id: line.quantity for line in sale.lines.all()}
        returned: dict[str, Decimal] = {}
        for line in ReturnLine.objects.filter(ret__sale=sale):
            returned[line.product_id] = returned.get(line.product_id, Decimal("0")) + line.quantity
        for index, line in enumerate(lines):
            left = sold.get(line.sku, Decimal("0")) - returned.get(line.sku, Decimal("0"))
            if line.quantity > left:
                raise DomainError(
                    "return_exceeds_sale",
                    f"Sale {sale.number} has {_qty(left)} of {line.sku} left to return, {_qty(line.quantity)} asked.",
                    status=status.HTTP_409_CONFLICT,
                    fields={"lines": {str(index): {"quantity": [f"At most {_qty(left)}."]}}},
                    extra={"sku": line.sku, "returnable": _qty(left)},
                )
        now = timezone.now()
        ret = Return.objects.create(
            id=return_id, sale=sale, reason=reason, cashier=cashier, fingerprint=fingerprint, created_at=now
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(ret=ret, product_id=line.sku, quantity=line.quantity) for line in lines
        )
        stock_change_record(
            event_type="return.completed",
            payload={
                "return_id": str(ret.id),
                "sale_id": str(sale.id),
                "lines": [{"sku": line.sku, "quantity": _qty(line.quantity)} for line in lines],
            },
            kind=MovementKind.RETURN,
            reference=str(ret.id),
            deltas={line.sku: line.quantity for line in lines},
            occurred_at=now,
        )
    metrics.RETURNS.inc()
    return ret, True


# ----------------------------------------------------------------------------------------------------------------
# Receipts and counts
# ----------------------------------------------------------------------------------------------------------------


def stock_receipt_record(
    *, receipt_id: uuid.UUID | None, transfer_id: uuid.UUID | None, lines: list[Line], user
) -> tuple[StockDocument, bool]:
    """Goods arrived (a supplier delivery, or a transfer head office sent): stock goes up. Idempotent on
    ``receipt_id``. A transfer is received once, with its own lines (409 otherwise): goods that arrived before the
    transfer reached this branch are received against its id, and the transfer then arrives already received."""
    receipt_id = receipt_id or uuid.uuid4()
    stored_lines = [{"sku": line.sku, "quantity": _qty(line.quantity)} for line in lines]
    fingerprint = _fingerprint(kind="receipt", transfer_id=str(transfer_id or ""), lines=stored_lines)
    with transaction.atomic():
        existing = _replay(StockDocument, pk=receipt_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        _products(lines)
        if transfer_id:
            _transfer_receivable(transfer_id=transfer_id, lines=lines)
        now = timezone.now()
        document = StockDocument.objects.create(
            id=receipt_id,
            branch=settings.BRANCH_CODE,
            kind=StockDocumentKind.RECEIPT,
            transfer_id=transfer_id,
            lines=stored_lines,
            recorded_by=user,
            fingerprint=fingerprint,
            created_at=now,
        )
        if transfer_id:
            IncomingTransfer.objects.filter(id=transfer_id).update(
                state=IncomingTransfer.State.RECEIVED, received_at=now
            )
        stock_change_record(
            event_type="stock.received",
            payload={"transfer_id": str(transfer_id) if transfer_id else None, "lines": stored_lines},
            kind=MovementKind.RECEIPT,
            reference=str(document.id),
            deltas={line.sku: line.quantity for line in lines},
            occurred_at=now,
        )
    return document, True


def _transfer_receivable(*, transfer_id: uuid.UUID, lines: list[Line]) -> None:
    """Refuse (409) a receipt of a transfer already received, or with other lines than the transfer sent."""
    transfer = IncomingTransfer.objects.filter(id=transfer_id).first()
    received = StockDocument.objects.filter(kind=StockDocumentKind.RECEIPT, transfer_id=transfer_id).exists()
    if received or (transfer is not None and transfer.state == IncomingTransfer.State.RECEIVED):
        raise DomainError(
            "transfer_already_received",
            f"Transfer {transfer_id} was already received here.",
            status=status.HTTP_409_CONFLICT,
            fields={"transfer_id": ["Already received."]},
        )
    if transfer is None:
        return  # not pulled yet: the goods came first; the transfer will arrive already received
    sent = {line["sku"]: Decimal(line["quantity"]) for line in transfer.lines}
    if sent != {line.sku: line.quantity for line in lines}:
        raise DomainError(
            "transfer_lines_mismatch",
            f"Transfer {transfer_id} sent other lines: "
            + ", ".join(f"{sku} x {_qty(quantity)}" for sku, quantity in sorted(sent.items()))
            + ". Receive it as sent, then count what differs.",
            status=status.HTTP_409_CONFLICT,
            fields={"lines": ["Must be the transfer's lines."]},
            extra={"expected": [{"sku": sku, "quantity": _qty(q)} for sku, q in sorted(sent.items())]},
        )


def stock_count_record(*, count_id: uuid.UUID | None, lines: list[Line], user) -> tuple[StockDocument, bool]:
    """A physical count sets a new baseline: each counted SKU moves by (counted - what the books said), read under
    the write lock so no sale slips in between, and a stock snapshot follows in its own transaction.
    ``Line.quantity`` is the counted quantity. Idempotent on ``count_id``."""
    count_id = count_id or uuid.uuid4()
    counted = {line.sku: line.quantity for line in lines}
    fingerprint = _fingerprint(kind="count", lines=sorted((sku, _qty(q)) for sku, q in counted.items()))
    branch = settings.BRANCH_CODE
    with transaction.atomic():
        existing = _replay(StockDocument, pk=count_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        _products(lines)
        previous = stock_on_hand(branch=branch, skus=list(counted))
        stored_lines = [
            {"sku": sku, "counted": _qty(quantity), "previous": _qty(previous.get(sku, Decimal("0")))}
            for sku, quantity in counted.items()
        ]
        now = timezone.now()
        document = StockDocument.objects.create(
            id=count_id,
            branch=branch,
            kind=StockDocumentKind.COUNT,
            lines=stored_lines,
            recorded_by=user,
            fingerprint=fingerprint,
            created_at=now,
        )
        stock_change_record(
            event_type="stock.counted",
            payload={"count_id": str(document.id), "lines": stored_lines},
            kind=MovementKind.COUNT,
            reference=str(document.id),
            deltas={sku: quantity - previous.get(sku, Decimal("0")) for sku, quantity in counted.items()},
            occurred_at=now,
        )
    # A count is a fresh baseline: tell head office what the whole branch now believes it holds.
    stock_snapshot_record()
    return document, True


def stock_adjustment_record(
    *, reason: str, lines: list[Line], change_id: int | None = None, change_digest: str = ""
) -> OutboxEvent:
    """Apply a stock adjustment head office ordered (``Line.quantity`` is the signed delta), in the caller's
    transaction: the pull applies it together with its feed cursor, so exactly once. It may take stock below zero;
    head office ordered it and reconciliation follows it up.

    ``change_id``/``change_digest`` name the change-feed item it applies; the event carries them (optional fields
    of schema 1), so a branch that replays this event from central after a restore knows that change is applied
    and does not apply it again when it pulls it a second time."""
    _products(lines)
    payload = {"reason": reason, "lines": [{"sku": line.sku, "delta": _qty(line.quantity)} for line in lines]}
    if change_id is not None:
        payload.update(change_id=change_id, change_digest=change_digest)
    return stock_change_record(
        event_type="stock.adjusted",
        payload=payload,
        kind=MovementKind.ADJUSTMENT,
        reference=reason[:64],
        deltas={line.sku: line.quantity for line in lines},
        occurred_at=timezone.now(),
    )


@transaction.atomic
def stock_snapshot_record() -> OutboxEvent:
    """Record what this branch believes it holds, as of the last event before the snapshot, for central's
    reconciliation. Read under the write lock, so no sale slips between the levels and ``as_of_seq``."""
    modes.require(modes.Mode.BRANCH)
    as_of = OutboxEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    levels = [
        {"sku": sku, "on_hand": str(on_hand.quantize(Decimal("0.001")))}
        for sku, on_hand in StockLevel.objects.filter(branch=settings.BRANCH_CODE)
        .order_by("product_id")
        .values_list("product_id", "on_hand")
    ]
    return outbox_event_append(
        type="stock.snapshot", payload={"as_of_seq": as_of, "levels": levels}, occurred_at=timezone.now()
    )


# ----------------------------------------------------------------------------------------------------------------
# The projection
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelFix:
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
    from branches.models import Branch

    if connection.vendor != "postgresql":
        with transaction.atomic():
            return _levels_rebuild(branches=None)
    fixes = []
    codes = set(StockMovement.objects.values_list("branch", flat=True).distinct())
    codes |= set(StockLevel.objects.values_list("branch", flat=True).distinct())
    for code in sorted(codes):
        with transaction.atomic():
            list(Branch.objects.select_for_update().filter(pk=code).values_list("pk"))
            fixes += _levels_rebuild(branches=[code])
    return fixes


def _levels_rebuild(*, branches: list[str] | None) -> list[LevelFix]:
    from django.db.models import Sum

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
        want = Decimal(truth.get(key) or 0).quantize(MILLI)
        level = stored.get(key)
        if level is None:
            StockLevel.objects.create(branch=key[0], product_id=key[1], on_hand=want)
            fixes.append(LevelFix(branch=key[0], sku=key[1], was=None, now=want))
        elif level.on_hand != want:
            fixes.append(LevelFix(branch=key[0], sku=key[1], was=level.on_hand, now=want))
            level.on_hand = want
            level.save(update_fields=["on_hand", "updated_at"])
    return sorted(fixes, key=lambda fix: (fix.branch, fix.sku))
