"""Branch-side reads for the staff pages: what head office sent that the store still has to act on."""

from django.db.models import QuerySet

from branches.models import IncomingTransfer, RecountRequest
from inventory.models import StockDocument, StockDocumentKind


def transfers_in_transit() -> QuerySet[IncomingTransfer]:
    """Transfers head office sent that this store has not received yet, oldest first."""
    return IncomingTransfer.objects.filter(state=IncomingTransfer.State.IN_TRANSIT).order_by("sent_at")


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
