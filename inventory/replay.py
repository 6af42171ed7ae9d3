"""Rebuild this branch's records from its own events, as central stored them (branch mode).

A branch restored from a backup, or rebuilt from nothing, fetches back from central the events it had delivered
and no longer holds (branches/recovery.py). Each one is replayed here with its original id, seq and sale number:
the documents the staff made (sale, void, return, receipt, count), the ledger rows carrying the event's seq, and
the on-hand projection, through the same ledger write as every other change. No outbox event is appended (the
event is central's already); the caller records it in the outbox as delivered, in the same transaction.
"""

import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model

from branches.models import IncomingTransfer
from branches.protocol import EventType, payload_deltas, payload_fingerprint, void_deltas
from ecomarket.db import rows_insert
from ecomarket.modes import Mode, only
from ecomarket.quantities import money
from inventory.ledger import stock_movements_apply
from inventory.models import (
    MovementKind,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    SaleStatus,
    StockDocument,
    StockDocumentKind,
)


@only(Mode.BRANCH)
def stock_event_replay(*, seq: int, type: str, occurred_at: datetime, payload: dict) -> None:
    """Replay one of this branch's events, in the caller's transaction. Not idempotent on its own: the caller
    replays an event only when its id is not in the outbox, and records it there in the same transaction."""
    replay = _REPLAYS.get(type)
    if replay is not None:
        replay(seq=seq, occurred_at=occurred_at, payload=payload)


def _apply(*, seq: int, kind: str, reference: str, occurred_at: datetime, deltas: dict[str, Decimal]) -> None:
    stock_movements_apply(
        branch=settings.BRANCH_CODE, seq=seq, kind=kind, reference=reference, occurred_at=occurred_at, deltas=deltas
    )


def _user(username: str):
    return get_user_model().objects.filter(username=username).first() if username else None


def _sale_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    sale_id = uuid.UUID(payload["sale_id"])
    lines = payload["lines"]
    if not Sale.objects.filter(pk=sale_id).exists():
        sale = Sale(
            id=sale_id,
            branch=settings.BRANCH_CODE,
            number=payload["number"],
            status=SaleStatus.COMPLETED,
            payment_method=payload.get("payment_method", "cash"),
            total=Decimal(payload["total"]),
            cashier=_user(payload.get("cashier", "")),
            oversold=False,
            # As sale_create computes it, so a till retrying this sale with the same body gets it back (200).
            fingerprint=payload_fingerprint(EventType.SALE_COMPLETED, payload),
            created_at=occurred_at,
            markdown=payload.get("markdown"),
            markdown_approved_by=payload.get("markdown_approved_by", ""),
            provisional_number=payload.get("provisional_number", ""),
        )
        rows_insert(Sale, [sale])
        rows_insert(
            SaleLine,
            [
                SaleLine(
                    sale=sale,
                    product_id=line["sku"],
                    quantity=Decimal(line["quantity"]),
                    unit_price=Decimal(line["unit_price"]),
                    # What the line cost as the sale priced it (a promotion, a label's price), so a return from a
                    # replayed sale pays back what the customer paid.
                    **_line_amounts(line),
                )
                for line in lines
            ],
        )
    _apply(
        seq=seq,
        kind=MovementKind.SALE,
        reference=str(sale_id),
        occurred_at=occurred_at,
        deltas=payload_deltas(EventType.SALE_COMPLETED, payload),
    )


def _line_amounts(line: dict) -> dict:
    if "line_total" not in line:
        return {"line_total": money(Decimal(line["quantity"]) * Decimal(line["unit_price"]))}
    amounts = {key: Decimal(line[key]) for key in ("line_total", "gross", "discount")}
    if "markdown_discount" in line:
        amounts.update(markdown_discount=Decimal(line["markdown_discount"]), markdown=line.get("markdown"))
    return amounts | ({"promotion_id": uuid.UUID(line["promotion_id"])} if "promotion_id" in line else {})


def _void_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    sale = Sale.objects.filter(pk=payload["sale_id"]).first()
    if sale is None:  # its sale never reached central either: central has no reversal for it, nor do we
        return
    Sale.objects.filter(pk=sale.pk).update(
        status=SaleStatus.VOIDED, voided_at=occurred_at, void_reason=payload.get("reason", "")[:200]
    )
    _apply(
        seq=seq,
        kind=MovementKind.VOID,
        reference=str(sale.id),
        occurred_at=occurred_at,
        deltas=void_deltas((line.product_id, line.quantity) for line in sale.lines.all()),
    )


def _return_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    lines = payload["lines"]
    if Sale.objects.filter(pk=payload["sale_id"]).exists():
        ret = Return.objects.create(
            id=payload["return_id"],
            sale_id=payload["sale_id"],
            reason="",
            fingerprint=payload_fingerprint(EventType.RETURN_COMPLETED, payload),
            created_at=occurred_at,
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(ret=ret, product_id=line["sku"], quantity=Decimal(line["quantity"])) for line in lines
        )
    _apply(
        seq=seq,
        kind=MovementKind.RETURN,
        reference=payload["return_id"],
        occurred_at=occurred_at,
        deltas=payload_deltas(EventType.RETURN_COMPLETED, payload),
    )


def _document(*, id, kind: str, lines: list[dict], fingerprint: str, occurred_at: datetime, transfer_id=None):
    return StockDocument.objects.create(
        id=id,
        branch=settings.BRANCH_CODE,
        kind=kind,
        transfer_id=transfer_id,
        lines=lines,
        fingerprint=fingerprint,
        created_at=occurred_at,
    )


def receipt_document_id(*, seq: int) -> uuid.UUID:
    """The id a replayed receipt takes when its event does not carry the receipt's own (written before it did):
    derived from the event's seq, stable across replays of the same event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ecomarket:{settings.BRANCH_CODE}:receipt:{seq}")


def _receipt_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    transfer_id = payload.get("transfer_id")
    receipt_id = payload.get("receipt_id")
    document = _document(
        id=uuid.UUID(receipt_id) if receipt_id else receipt_document_id(seq=seq),
        kind=StockDocumentKind.RECEIPT,
        lines=payload["lines"],
        fingerprint=payload_fingerprint(EventType.STOCK_RECEIVED, payload),
        occurred_at=occurred_at,
        transfer_id=transfer_id,
    )
    if transfer_id:
        IncomingTransfer.objects.filter(id=transfer_id).update(
            state=IncomingTransfer.State.RECEIVED, received_at=occurred_at
        )
    _apply(
        seq=seq,
        kind=MovementKind.RECEIPT,
        reference=str(document.id),
        occurred_at=occurred_at,
        deltas=payload_deltas(EventType.STOCK_RECEIVED, payload),
    )


def _count_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    lines = payload["lines"]
    _document(
        id=payload["count_id"],
        kind=StockDocumentKind.COUNT,
        lines=lines,
        fingerprint=payload_fingerprint(EventType.STOCK_COUNTED, payload),
        occurred_at=occurred_at,
    )
    _apply(
        seq=seq,
        kind=MovementKind.COUNT,
        reference=payload["count_id"],
        occurred_at=occurred_at,
        deltas=payload_deltas(EventType.STOCK_COUNTED, payload),
    )


def _adjustment_replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    _apply(
        seq=seq,
        kind=MovementKind.ADJUSTMENT,
        reference=payload.get("reason", "")[:64],
        occurred_at=occurred_at,
        deltas=payload_deltas(EventType.STOCK_ADJUSTED, payload),
    )


_REPLAYS = {
    EventType.SALE_COMPLETED: _sale_replay,
    EventType.SALE_VOIDED: _void_replay,
    EventType.RETURN_COMPLETED: _return_replay,
    EventType.STOCK_RECEIVED: _receipt_replay,
    EventType.STOCK_COUNTED: _count_replay,
    EventType.STOCK_ADJUSTED: _adjustment_replay,
    # stock.snapshot changes nothing here: the outbox row is all it is.
}


def event_skus(payload: dict) -> set[str]:
    """The SKUs an event names (its lines, or a snapshot's levels): they must be in the catalog to replay it."""
    rows = payload.get("lines") or []
    return {row["sku"] for row in rows if isinstance(row, dict) and isinstance(row.get("sku"), str)}
