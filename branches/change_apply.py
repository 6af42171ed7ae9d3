"""Branch side: apply one item of head office's change feed here (a product, a transfer in transit, a resend
request, an adjustment head office ordered, a recount request, a scheduled price, a promotion), recorded as applied
in the same transaction, or as failed, to be reported to central and retried. Used by the pull, and by a recovery
that takes the feed's history again (branches/recovery.py).
"""

import logging

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.change_feed import quick_keys_replace
from branches.models import (
    AppliedChange,
    ChangeKind,
    FailedChange,
    IncomingTransfer,
    OutboxEvent,
    OutboxState,
    RecountRequest,
)
from branches.protocol import Rejection, change_digest, decimal_read, quick_keys_change_read
from ecomarket.modes import Mode, only
from ecomarket.quantities import MONEY_DIGITS
from inventory.models import Product, StockDocument, StockDocumentKind
from inventory.services import Line, stock_adjustment_record
from pricing.services import promotion_apply, scheduled_price_apply

log = logging.getLogger(__name__)


def change_try(*, change: dict, digest: str, failure: FailedChange | None, now) -> bool:
    """Apply one change on its own savepoint, recorded as applied with it; or, if it cannot apply, roll it back
    and record it as failed (to be reported to central). A database that is locked or gone is not the change's
    fault: that aborts the whole page, to be pulled again."""
    try:
        with transaction.atomic():
            change_apply(change, digest=digest)
            change_applied_record(change_id=change["id"], kind=change["kind"], digest=digest, now=now)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        code = str(getattr(error, "code", "") or type(error).__name__)[:40]
        detail = (str(error) or repr(error))[:2000]
        log.warning("change %s (%s) cannot be applied here, skipped: %s %s", change["id"], change["kind"], code, detail)
        if failure is not None and failure.digest == digest:
            changed = (failure.code, failure.detail) != (code, detail)
            FailedChange.objects.filter(id=failure.id).update(
                attempts=F("attempts") + 1,
                code=code,
                detail=detail,
                **({"reported_at": None} if changed else {}),
            )
        else:
            FailedChange.objects.update_or_create(
                id=change["id"],
                defaults={
                    "kind": change["kind"],
                    "digest": digest,
                    "payload": change.get("payload"),
                    "code": code,
                    "detail": detail,
                    "failed_at": now,
                    "attempts": 1,
                    "resolved_at": None,
                    "reported_at": None,
                },
            )
        return False
    if failure is not None and failure.resolved_at is None:
        FailedChange.objects.filter(id=failure.id).update(resolved_at=now, reported_at=None)
    return True


def change_applied_record(*, change_id: int, kind: str, digest: str, now) -> None:
    """Record a change-feed item as applied here, in the transaction of its effect: pulled again, it is skipped.
    A pull records what it applies; a recovery records the changes whose effect it replays from central (the
    ``change_id`` a ``stock.adjusted`` event carries), since the records made with them were lost in the restore."""
    AppliedChange.objects.update_or_create(id=change_id, defaults={"kind": kind, "digest": digest, "applied_at": now})


def product_apply(payload: dict) -> None:
    """Create or update a product as central's feed and catalog describe it (branches/change_feed.py
    product_payload)."""
    Product.objects.update_or_create(
        sku=payload["sku"],
        defaults={
            "name": payload["name"],
            "unit": payload["unit"],
            "price": decimal_read(payload["price"], "payload.price", digits=MONEY_DIGITS),
            "barcode": payload.get("barcode", ""),
            "plu": _plu_read(payload.get("plu", "")),
            "active": payload.get("active", True),
        },
    )


def quick_keys_apply(payload: dict) -> None:
    """Keep head office's quick keys for this till (every branch's layout, or this branch's own). A SKU this box
    does not hold yet fails the change, retried once the product has arrived."""
    branch, skus = quick_keys_change_read(payload)
    if missing := set(skus) - set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True)):
        raise Rejection("unknown_sku", f"quick keys name SKUs this branch does not hold: {', '.join(sorted(missing))}")
    quick_keys_replace(branch=branch, skus=skus)


def _plu_read(value) -> str:
    if not isinstance(value, str) or len(value) > 8 or not (value == "" or (value.isascii() and value.isdigit())):
        raise Rejection("invalid_payload", "payload.plu must be up to 8 digits")
    return value


def change_apply(change: dict, *, digest: str = "") -> None:
    """Apply one change in the caller's transaction. ``digest`` is the change's as the feed sent it (a failed
    change tried again keeps the one it came with); by default it is computed from ``change``."""
    digest = digest or change_digest(change)
    payload = change["payload"]
    match change["kind"]:
        case ChangeKind.PRODUCT:
            product_apply(payload)
        case ChangeKind.TRANSFER:
            for line in payload["lines"]:  # read again when the goods arrive: refused now, not then
                decimal_read(line["quantity"], "payload.lines.quantity", positive=True)
            # Goods that arrived before the transfer did (a receipt naming it already) are not in transit.
            received = StockDocument.objects.filter(
                kind=StockDocumentKind.RECEIPT, transfer_id=payload["transfer_id"]
            ).first()
            IncomingTransfer.objects.get_or_create(
                id=payload["transfer_id"],
                defaults={
                    "lines": payload["lines"],
                    "note": payload.get("note", ""),
                    "sent_at": payload["sent_at"],
                    **(
                        {"state": IncomingTransfer.State.RECEIVED, "received_at": received.created_at}
                        if received
                        else {}
                    ),
                },
            )
        case ChangeKind.RESEND:
            OutboxEvent.objects.filter(seq__in=payload["seqs"], state=OutboxState.DELIVERED).update(
                state=OutboxState.PENDING
            )
        case ChangeKind.ADJUSTMENT:
            stock_adjustment_record(
                reason=payload["reason"],
                lines=[
                    Line(
                        sku=line["sku"],
                        quantity=decimal_read(line["delta"], "payload.lines.delta", allow_negative=True),
                    )
                    for line in payload["lines"]
                ],
                change_id=change["id"],
                change_digest=digest,
            )
        case ChangeKind.RECOUNT:
            # Asked when central made it, not when this box pulled it: a box restored or rebuilt that takes the
            # request in again finds the counts it replayed from central answering it (branches/selectors.py).
            requested_at = parse_datetime(change.get("created_at") or "") or timezone.now()
            RecountRequest.objects.get_or_create(
                id=change["id"],
                defaults={"skus": payload["skus"], "note": payload.get("note", ""), "requested_at": requested_at},
            )
        case ChangeKind.PRICE:
            # Kept now, in force from its effective_at by this box's clock (pricing/selectors.py).
            scheduled_price_apply(payload)
        case ChangeKind.PROMOTION:
            promotion_apply(payload)
        case ChangeKind.QUICK_KEYS:
            quick_keys_apply(payload)
        case _:
            log.warning("change %s of unknown kind %r ignored", change.get("id"), change["kind"])


@only(Mode.BRANCH)
@transaction.atomic
def failed_changes_retry() -> int:
    """Apply again the failed changes not resolved yet, once their cause is fixed (e.g. the product now exists at
    the branch); each one that applies is recorded as applied and reported as resolved. Returns how many applied.
    Safe to run twice: an applied change is no longer a failed one."""
    now = timezone.now()
    applied = 0
    for failure in FailedChange.objects.filter(resolved_at__isnull=True).order_by("id"):
        change = {"id": failure.id, "kind": failure.kind, "payload": failure.payload}
        applied += change_try(change=change, digest=failure.digest, failure=failure, now=now)
    return applied
