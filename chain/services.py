"""Central side: publish the chain's on-hand to every branch as a feed of changed figures.

A publication compares the on-hand levels with what the feed last published (``ChainPublishedLevel``) and writes
what differs as batches, in one transaction with the new published figures. Nothing on the ingest path changes: a
push writes its levels as before, and a figure is sent once however many sales moved it between two publications.
The comparison is limited to levels written since the previous publication less ``CHAIN_STOCK_OVERLAP_S`` (a level
stamped by an ingest that committed after that publication read is still caught, and sent once, since the
comparison drops what was published already).
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from branches.models import Branch
from chain.models import ChainPublishedLevel, ChainStockBatch
from chain.sale_index import chain_sales_book, sales_text
from ecomarket.db import table
from ecomarket.modes import Mode, only
from inventory.models import StockLevel

# Figures per batch: a first publication (the whole chain) is cut into batches a pull page can carry.
BATCH_ROWS = 20_000
# Key of the PostgreSQL advisory lock that keeps publications to one at a time ("chainpub" in ASCII).
_PUBLISH_LOCK = 0x636861696E707562

_CHANGED_SQL = """
SELECT l.branch, l.sku, l.on_hand FROM {levels} l
LEFT JOIN {published} p ON p.branch = l.branch AND p.sku = l.sku
WHERE (p.on_hand IS NULL OR p.on_hand <> l.on_hand) {since}
ORDER BY l.branch, l.sku
"""


def quantity_text(value) -> str:
    """A figure as the feed writes it: the shortest strict decimal ("4", "1.25", "-3")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@only(Mode.CENTRAL)
def chain_stock_publish_due() -> bool:
    """Whether the newest publication is older than CHAIN_STOCK_PUBLISH_S (or there is none)."""
    newest = ChainStockBatch.objects.order_by("-id").values_list("as_of", flat=True).first()
    return newest is None or (timezone.now() - newest).total_seconds() >= settings.CHAIN_STOCK_PUBLISH_S


@only(Mode.CENTRAL)
@transaction.atomic
def chain_stock_publish() -> int:
    """Publish what changed since the previous publication, with the sales booked or changed since
    (chain.sale_index.chain_sales_book); returns how many figures it sent (-1: another
    publication was running, this one did nothing). Always writes at least one batch, empty when nothing
    changed, so a branch's replica can say its figures were still true then. Safe to run twice or concurrently:
    on PostgreSQL an advisory lock lets one run at a time; SQLite serialises writers, and a figure sent twice is
    the same figure. Then prunes batches older than CHAIN_STOCK_KEEP_S."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_PUBLISH_LOCK])
            if not cursor.fetchone()[0]:
                return -1
    as_of = timezone.now()
    previous = ChainStockBatch.objects.order_by("-id").values_list("as_of", "names_digest").first()
    since, params = "", []
    if previous is not None:
        since, params = "AND l.updated_at >= %s", [previous[0] - timedelta(seconds=settings.CHAIN_STOCK_OVERLAP_S)]
    on_hand = StockLevel._meta.get_field("on_hand")
    with connection.cursor() as cursor:
        sql = _CHANGED_SQL.format(levels=table(StockLevel), published=table(ChainPublishedLevel), since=since)
        cursor.execute(sql, params)
        changed = [(branch, sku, on_hand.to_python(value)) for branch, sku, value in cursor.fetchall()]
    names = dict(Branch.objects.values_list("code", "name"))
    names_text = json.dumps(names, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(names_text.encode()).hexdigest()
    names_changed = previous is None or previous[1] != digest
    sales = sales_text(chain_sales_book(now=as_of))
    for start in range(0, max(len(changed), 1), BATCH_ROWS):
        chunk = changed[start : start + BATCH_ROWS]
        levels: dict[str, dict[str, str]] = {}
        for branch, sku, value in chunk:
            levels.setdefault(branch, {})[sku] = quantity_text(value)
        ChainStockBatch.objects.create(
            as_of=as_of,
            levels=json.dumps(levels, separators=(",", ":")),
            names=names_text if names_changed and start == 0 else "",
            sales=sales if start == 0 else "",
            names_digest=digest,
            rows=len(chunk),
        )
    ChainPublishedLevel.objects.bulk_create(
        [ChainPublishedLevel(branch=branch, sku=sku, on_hand=value) for branch, sku, value in changed],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["branch", "sku"],
        update_fields=["on_hand"],
    )
    ChainStockBatch.objects.filter(as_of__lt=as_of - timedelta(seconds=settings.CHAIN_STOCK_KEEP_S)).delete()
    return len(changed)
