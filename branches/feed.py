"""Central side: the change feed branches pull (``GET /api/v1/sync/changes``): catalog and prices, transfers,
resend requests, stock adjustments ordered by head office."""

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q

from branches.models import Branch, Change, ChangeKind, Transfer
from inventory.models import Product

PAGE = 500


def change_append(*, kind: str, payload: dict, branch: Branch | None = None) -> Change:
    """Append one change in the caller's transaction.

    Feed ids are the branches' cursor, so they must become visible in id order: a branch that has read id 10 must
    never later find an id 9 committed behind it. Appends are therefore serialised with a table lock (they are
    rare: catalog edits, transfers, resend requests); readers are not blocked. SQLite serialises writers anyway.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("change_append must run inside the transaction of the change it announces")
    if branch is not None:
        branches_lock(branch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Change._meta.db_table} IN EXCLUSIVE MODE")
    return Change.objects.create(kind=kind, payload=payload, branch=branch)


def branches_lock(*branches: Branch) -> None:
    """Lock these branches' rows, in code order, in the caller's transaction. Every writer takes a branch's row
    before the change feed's table lock (the lock order of reconciliation/services.py). Without this, the
    feed row's foreign key would take its lock on the branch row only at commit (Django's foreign keys are
    deferred), after the table lock: a cycle with an ingest or a reconciliation pass that holds the branch and
    waits for the feed."""
    codes = sorted({branch.pk for branch in branches})
    list(Branch.objects.select_for_update().filter(pk__in=codes).order_by("code").values_list("pk"))


def changes_since(*, branch: Branch, cursor: int, limit: int = PAGE) -> tuple[list[Change], int]:
    """The changes for ``branch`` after ``cursor``, oldest first, and the cursor to ask with next."""
    changes = list(
        Change.objects.filter(Q(branch__isnull=True) | Q(branch=branch), id__gt=cursor).order_by("id")[:limit]
    )
    return changes, (changes[-1].id if changes else cursor)


def product_payload(product: Product) -> dict:
    return {
        "sku": product.sku,
        "name": product.name,
        "unit": product.unit,
        "price": str(product.price),
        "barcode": product.barcode,
        "active": product.active,
    }


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
    return product, created


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
    Without ``from_branch`` the goods come from the warehouse."""
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


@transaction.atomic
def resend_request_create(*, branch: Branch, seqs: list[int]) -> Change:
    """Ask a branch to send these events again (they are missing at central)."""
    return change_append(kind=ChangeKind.RESEND, branch=branch, payload={"seqs": sorted(set(seqs))})
