"""Reads, of both sides. Branch side, for the staff pages: what head office sent that the store still has to act
on. Central side: a branch's own events and the catalog, for a branch's recovery."""

from datetime import UTC

from django.db.models import Max, QuerySet

from branches.change_feed import changes_visible, product_payload
from branches.models import Branch, BranchEvent, IncomingTransfer, RecountRequest
from branches.protocol import EventType, envelope_build
from ecomarket.modes import Mode, only
from inventory.models import Product, StockDocument, StockDocumentKind


@only(Mode.BRANCH)
def transfers_in_transit() -> QuerySet[IncomingTransfer]:
    """Transfers head office sent that this store has not received yet, oldest first."""
    return IncomingTransfer.objects.filter(state=IncomingTransfer.State.IN_TRANSIT).order_by("sent_at")


@only(Mode.BRANCH)
def recount_requests_open() -> list[RecountRequest]:
    """Recounts head office asked for that no count since has covered: a request is done once every SKU it names
    was counted after it arrived."""
    requests = list(RecountRequest.objects.filter(done_at__isnull=True).order_by("requested_at"))
    if not requests:
        return []
    counts = StockDocument.objects.filter(
        kind=StockDocumentKind.COUNT, created_at__gte=requests[0].requested_at
    ).values_list("created_at", "lines")
    counted_after = [(created_at, {line["sku"] for line in lines}) for created_at, lines in counts]
    return [
        request
        for request in requests
        if not set(request.skus)
        <= set().union(*(skus for created_at, skus in counted_after if created_at >= request.requested_at))
    ]


# ----------------------------------------------------------------------------------------------------------------
# Central side: a branch's own events, fetched back by a branch restored from a backup or rebuilt from nothing
# ----------------------------------------------------------------------------------------------------------------

EVENTS_PAGE = 500


def branch_event_envelope(event: BranchEvent) -> dict:
    """A stored event as the branch sent it (docs/protocol.md), byte for byte the same JSON once keys are sorted: the
    branch wrote ``occurred_at`` in UTC with milliseconds, and that is what central stored."""
    return envelope_build(
        id=event.id,
        branch=event.branch_id,
        seq=event.seq,
        type=event.type,
        occurred_at=event.occurred_at.astimezone(UTC),
        schema=event.schema,
        payload=event.payload,
    )


@only(Mode.CENTRAL)
def branch_events_page(*, branch: Branch, after: int, limit: int = EVENTS_PAGE) -> dict:
    """The branch's stored events with seq above ``after``, oldest first, with what a recovering branch needs to
    number its next events above everything central holds: the highest seq and the last sale number. Sale numbers
    and seqs are taken together under the branch's write lock, so the sale with the highest seq has the highest
    number (read through the (branch, type, seq) index, not a scan). Central mode; read only."""
    events = list(BranchEvent.objects.filter(branch=branch, seq__gt=after).order_by("seq")[:limit])
    last_sale = (
        BranchEvent.objects.filter(branch=branch, type=EventType.SALE_COMPLETED)
        .order_by("-seq")
        .values_list("payload", flat=True)
        .first()
    )
    number = last_sale.get("number") if isinstance(last_sale, dict) else None
    return {
        "events": [branch_event_envelope(event) for event in events],
        "next_after": events[-1].seq if events else after,
        "more": len(events) == limit,
        "high_water_seq": branch.high_water_seq,
        "max_seq_seen": branch.max_seq_seen,
        "last_sale_number": number if isinstance(number, int) else 0,
    }


CATALOG_PAGE = 1000


@only(Mode.CENTRAL)
def catalog_page(*, branch: Branch, after: str, limit: int = CATALOG_PAGE) -> dict:
    """Central's catalog by SKU after ``after``, each product as the change feed carries it, the newest change of
    the feed as ``branch`` reads it, and how far ``branch`` applied the feed (branches/change_feed.py
    feed_applied_record). Both are read first: a product changed meanwhile is in the feed after them, so a branch
    that pulls from there misses nothing. The newest change is the branch's own view of the feed, never another
    branch's change: a pull from a cursor beyond what the branch can see is told ``cursor_ahead`` and starts over
    from 0. Central mode; read only."""
    newest = changes_visible(branch).aggregate(newest=Max("id"))["newest"] or 0
    applied = Branch.objects.filter(pk=branch.pk).values_list("feed_applied_cursor", flat=True).first()
    products = list(Product.objects.filter(sku__gt=after).order_by("sku")[:limit])
    return {
        "products": [product_payload(product) for product in products],
        "next_after": products[-1].sku if products else after,
        "more": len(products) == limit,
        "newest_change_id": newest,
        "feed_applied_cursor": applied,
    }
