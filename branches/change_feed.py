"""Central side: the change feed branches pull (``GET /api/v1/sync/changes``): catalog and prices, transfers,
resend requests, stock adjustments ordered by head office; and what branches report they could not apply.

What a branch could never apply is refused here, at the source (:func:`feed_lines_check`). What still fails at a
branch (a change written before that check, a catalog the branch has not caught up with) is skipped there,
reported back (:func:`change_failures_record`) and shown to managers."""

from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from branches.feed_log import branches_lock, change_append
from branches.models import Branch, BranchChangeFailure, Change, ChangeKind, Transfer
from branches.protocol import QUICK_KEYS_MAX, change_digest, quick_keys_change_payload
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import NumberFormatError, quantity_check
from inventory.models import Product, QuickKey
from pricing.models import ScheduledPrice
from pricing.services import price_schedule

PAGE = 500


def changes_visible(branch: Branch):
    """The feed as ``branch`` reads it: changes for every branch and its own."""
    return Change.objects.filter(Q(branch__isnull=True) | Q(branch=branch))


def changes_since(*, branch: Branch, cursor: int, limit: int = PAGE) -> tuple[list[Change], int]:
    """The changes for ``branch`` after ``cursor``, oldest first, and the cursor to ask with next."""
    changes = list(changes_visible(branch).filter(id__gt=cursor).order_by("id")[:limit])
    return changes, (changes[-1].id if changes else cursor)


def change_body(change: Change) -> dict:
    """A change as the feed sends it."""
    return {
        "id": change.id,
        "kind": change.kind,
        "payload": change.payload,
        "created_at": change.created_at.isoformat(),
    }


@only(Mode.CENTRAL)
def changes_page(*, branch: Branch, cursor: int, digest: str = "") -> dict:
    """One page of the feed for ``branch``, and whether its cursor still names a change central holds.

    A central restored from a backup no longer holds the changes after the backup, and hands their ids out again.
    A branch whose cursor is beyond the newest change (``cursor_ahead``), or whose cursor change is not the one it
    applied (``cursor_changed``, checked when the branch sends that change's ``digest``), is told so in
    ``resync`` instead of being silently skipped past new changes; it starts again from 0, and applies nothing
    twice (branches/pull.py). Read only."""
    newest = changes_visible(branch).aggregate(newest=Max("id"))["newest"] or 0
    resync = None
    if cursor > newest:
        resync = "cursor_ahead"
    elif cursor and digest:
        held = changes_visible(branch).filter(id=cursor).first()
        if held is None or change_digest(change_body(held)) != digest:
            resync = "cursor_changed"
    # Nothing after the cursor (most pulls: 500 stores ask every 10 s): no need to read the page.
    nothing_new = resync is not None or cursor == newest
    changes, next_cursor = ([], cursor) if nothing_new else changes_since(branch=branch, cursor=cursor)
    return {
        "changes": [change_body(change) for change in changes],
        "next_cursor": next_cursor,
        "newest_id": newest,
        "resync": resync,
    }


@only(Mode.CENTRAL)
def feed_applied_record(*, branch: Branch, cursor: int) -> None:
    """Remember that ``branch`` applied the feed up to ``cursor``: a branch pulls with the cursor it committed
    with the changes up to it, so its pull says they are applied (or failed and reported). A box rebuilt from
    nothing starts its cursor here (``catalog_page``) and pulls what came after, which the lost box may never
    have applied. One conditional UPDATE in its own transaction, written only when the cursor grows: it takes the
    branch's row alone, briefly, so it waits on no other lock (the lock order of reconciliation/services.py)."""
    if branch.feed_applied_cursor is not None and branch.feed_applied_cursor >= cursor:
        return  # the row as the request read it already says so (most pulls): no round trip
    Branch.objects.filter(Q(feed_applied_cursor__isnull=True) | Q(feed_applied_cursor__lt=cursor), pk=branch.pk).update(
        feed_applied_cursor=cursor
    )


def feed_lines_check(*, lines: list[tuple[str, Decimal]], single: bool = False) -> None:
    """Refuse (400) what a branch could never apply: a quantity outside the ledger's format (the branch's stock
    list could no longer read its on-hand), an SKU unknown or inactive, a fraction of a product sold by the unit.
    ``single``: the lines are one ``sku``/``delta`` pair of the request, not a ``lines`` list."""
    products = Product.objects.in_bulk([sku for sku, _ in lines])

    def where(index: int, name: str, message: str) -> dict:
        return {name: [message]} if single else {"lines": {str(index): {name: [message]}}}

    for index, (sku, quantity) in enumerate(lines):
        try:
            quantity_check(quantity)
        except NumberFormatError as error:
            raise DomainError(
                "invalid",
                f"{sku}: {quantity} is not a quantity a branch can hold: {error}",
                fields=where(index, "delta" if single else "quantity", str(error)),
            ) from None
        product = products.get(sku)
        if product is None or not product.active:
            raise DomainError(
                "unknown_sku",
                f"Unknown or inactive SKU {sku!r}: no branch could apply it.",
                fields=where(index, "sku", "Unknown or inactive SKU."),
                extra={"sku": sku},
            )
        if not product.sold_by_weight and quantity != quantity.to_integral_value():
            raise DomainError(
                "fractional_quantity",
                f"{product.name} is sold by the unit; {quantity} is not a whole number.",
                fields=where(index, "delta" if single else "quantity", "Must be a whole number for this product."),
                extra={"sku": sku},
            )


def product_payload(product: Product) -> dict:
    return {
        "sku": product.sku,
        "name": product.name,
        "unit": product.unit,
        "price": str(product.price),
        "barcode": product.barcode,
        "plu": product.plu,
        "active": product.active,
    }


@only(Mode.CENTRAL)
@transaction.atomic
def product_save(*, sku: str, **fields) -> tuple[Product, bool]:
    """Create or change a product at head office and announce it to every branch. Returns ``(product, created)``."""
    product, created = Product.objects.select_for_update().get_or_create(sku=sku, defaults=fields)
    if not created:
        for name, value in fields.items():
            setattr(product, name, value)
        product.full_clean()
        product.save()
    change_append(kind=ChangeKind.PRODUCT, payload=product_payload(product))
    if not created and "price" in fields and ScheduledPrice.objects.filter(product=product).exists():
        # A scheduled price in force would hide the new base price: the new price is scheduled from now too.
        price_schedule(sku=sku, price=product.price, effective_at=timezone.now())
    return product, created


@only(Mode.CENTRAL)
@transaction.atomic
def quick_keys_set(*, branch: Branch | None, skus: list[str]) -> list[QuickKey]:
    """Lay out the till's quick keys, in this order, for one branch or (``branch`` None) every branch without a
    layout of its own, and announce the whole layout in the change feed. An empty list takes a branch's own layout
    away (it then shows the chain's). Unknown, inactive or repeated SKUs are refused (400). Setting the same layout
    twice writes the same rows and one more change, which every branch applies to the same effect."""
    if len(skus) > QUICK_KEYS_MAX or len(set(skus)) != len(skus):
        raise DomainError(
            "invalid",
            f"At most {QUICK_KEYS_MAX} quick keys, each SKU once.",
            fields={"skus": ["Too many or repeated."]},
        )
    products = Product.objects.filter(sku__in=skus, active=True).in_bulk()
    if unknown := [sku for sku in skus if sku not in products]:
        raise DomainError(
            "unknown_sku",
            f"Unknown or inactive SKU {unknown[0]!r}: no till could show it.",
            fields={"skus": [f"Unknown or inactive SKU: {', '.join(unknown)}."]},
            extra={"sku": unknown[0]},
        )
    if branch is not None:
        branches_lock(branch)  # before the feed's lock: see change_append
    code = branch.code if branch else ""
    keys = quick_keys_replace(branch=code, skus=skus)
    change_append(kind=ChangeKind.QUICK_KEYS, branch=branch, payload=quick_keys_change_payload(branch=code, skus=skus))
    return keys


def quick_keys_replace(*, branch: str, skus: list[str]) -> list[QuickKey]:
    """The layout for ``branch`` ("" for the chain's) becomes ``skus``, in order: head office's rows, and a
    branch's copy of them (branches/change_apply.py). In the caller's transaction."""
    QuickKey.objects.filter(branch=branch).delete()
    return QuickKey.objects.bulk_create(
        [QuickKey(branch=branch, position=position, product_id=sku) for position, sku in enumerate(skus, start=1)]
    )


@only(Mode.CENTRAL)
@transaction.atomic
def transfer_create(
    *,
    to_branch: Branch,
    lines: list[tuple[str, Decimal]],
    from_branch: Branch | None = None,
    note: str = "",
    user=None,
) -> Transfer:
    """Send goods to a branch: the branch sees them in transit and confirms arrival as ``stock.received``.

    From another branch (``from_branch``), that branch is told to ship them: it records a ``stock.adjusted``
    taking them out of its stock when it pulls the order, even below zero — head office ordered it, and if the
    branch's stock can no longer cover it, reconciliation opens an oversell case for the sales that used it up.
    Without ``from_branch`` the goods come from the warehouse. Lines a branch could not apply are refused (400)."""
    feed_lines_check(lines=lines)
    branches_lock(*filter(None, [to_branch, from_branch]))  # both before the feed's lock: see change_append
    transfer = Transfer.objects.create(
        to_branch=to_branch,
        from_branch=from_branch,
        lines=[{"sku": sku, "quantity": str(quantity)} for sku, quantity in lines],
        note=note,
        created_by=user.get_username() if user else "",
    )
    change_append(
        kind=ChangeKind.TRANSFER,
        branch=to_branch,
        payload={
            "transfer_id": str(transfer.id),
            "lines": transfer.lines,
            "note": note,
            "sent_at": transfer.created_at.isoformat(),
        },
    )
    if from_branch is not None:
        change_append(
            kind=ChangeKind.ADJUSTMENT,
            branch=from_branch,
            payload={
                "adjustment_id": str(transfer.id),
                "reason": f"transfer {transfer.id} to {to_branch.code}",
                "lines": [{"sku": sku, "delta": str(-quantity)} for sku, quantity in lines],
            },
        )
    return transfer


@only(Mode.CENTRAL)
@transaction.atomic
def resend_request_create(*, branch: Branch, seqs: list[int]) -> Change:
    """Ask a branch to send these events again (they are missing at central)."""
    return change_append(kind=ChangeKind.RESEND, branch=branch, payload={"seqs": sorted(set(seqs))})


@only(Mode.CENTRAL)
@transaction.atomic
def change_failures_record(*, branch: Branch, failures: list[dict]) -> int:
    """Record what ``branch`` reports about changes it could not apply (failed, or applied after all: a non-null
    ``resolved_at``). Idempotent: one row per (branch, change id), the latest report wins."""
    now = timezone.now()
    for failure in failures:
        BranchChangeFailure.objects.update_or_create(
            branch=branch,
            change_id=failure["change_id"],
            defaults={
                "kind": failure["kind"],
                "code": failure["code"],
                "detail": failure["detail"],
                "failed_at": failure["failed_at"],
                "resolved_at": failure.get("resolved_at"),
                "reported_at": now,
            },
        )
    return len(failures)
