"""Reads of the chain's stock: central's feed pages (what a branch pulls) and the branch's replica (what its
till and stock page show). The branch side reads only its own database: it never asks central."""

import json
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from branches.models import Branch
from chain.models import ChainBranchName, ChainLevel, ChainPublishedLevel, ChainReplicaState, ChainStockBatch
from chain.sale_index import sale_index_snapshot
from chain.services import quantity_text
from ecomarket.modes import Mode, only

# A feed page carries at most this many batches and stops adding them past FEED_PAGE_BYTES of figures.
FEED_PAGE_BATCHES = 100
FEED_PAGE_BYTES = 2 * 1024 * 1024
# Branches per snapshot page (2,000 SKUs each: about 40,000 figures).
SNAPSHOT_BRANCHES = 20


@only(Mode.CENTRAL)
def chain_feed_page(*, cursor: int) -> str:
    """The batches after ``cursor`` as the JSON text of the answer, built around each batch's stored text. A
    cursor central cannot continue from (0, one pruned away, one beyond its newest batch after a restore from a
    backup) gets ``snapshot_required``: the branch copies the published table once, then follows the feed."""
    bounds = ChainStockBatch.objects.aggregate(oldest=Min("id"), newest=Max("id"))
    oldest, newest = bounds["oldest"] or 0, bounds["newest"] or 0
    if cursor == 0 or cursor < oldest - 1 or cursor > newest:
        return json.dumps({"snapshot_required": True, "batches": [], "next_cursor": cursor, "more": False})
    parts, size, last = [], 0, cursor
    batches = ChainStockBatch.objects.filter(id__gt=cursor).order_by("id")[:FEED_PAGE_BATCHES]
    for batch in batches:
        if parts and size + len(batch.levels) + len(batch.sales) > FEED_PAGE_BYTES:
            break
        names, sales = batch.names or "null", batch.sales or "null"
        parts.append(
            f'{{"id":{batch.id},"as_of":{json.dumps(batch.as_of.isoformat())},"levels":{batch.levels},'
            f'"names":{names},"sales":{sales}}}'
        )
        size += len(batch.levels) + len(batch.sales)
        last = batch.id
    more = last < newest
    return f'{{"snapshot_required":false,"batches":[{",".join(parts)}],"next_cursor":{last},"more":{json.dumps(more)}}}'


@only(Mode.CENTRAL)
def chain_snapshot_page(*, after: str) -> dict:
    """One page of the published figures, branch by branch after ``after`` ("" at first). ``cursor`` and
    ``as_of`` are the newest batch's, read before the figures: a figure on a later page may be newer than the
    cursor, and the batches after the cursor, applied in order, bring every figure to the newest again."""
    newest = ChainStockBatch.objects.order_by("-id").values_list("id", "as_of").first()
    codes = list(
        ChainPublishedLevel.objects.filter(branch__gt=after)
        .order_by("branch")
        .values_list("branch", flat=True)
        .distinct()[: SNAPSHOT_BRANCHES + 1]
    )
    page, more = codes[:SNAPSHOT_BRANCHES], len(codes) > SNAPSHOT_BRANCHES
    levels: dict[str, dict[str, str]] = {}
    for branch, sku, on_hand in ChainPublishedLevel.objects.filter(branch__in=page).values_list(
        "branch", "sku", "on_hand"
    ):
        levels.setdefault(branch, {})[sku] = quantity_text(on_hand)
    return {
        "cursor": newest[0] if newest else 0,
        "as_of": newest[1].isoformat() if newest else None,
        "names": dict(Branch.objects.values_list("code", "name")),
        "levels": levels,
        "sales": sale_index_snapshot(branches=page, now=timezone.now()),
        "next_after": page[-1] if more else None,
    }


def chain_replica_state() -> ChainReplicaState:
    return ChainReplicaState.objects.get_or_create(pk=1)[0]


@only(Mode.BRANCH)
def chain_stock_for_sku(*, sku: str) -> list[dict]:
    """Every other store's on-hand of ``sku`` as the replica holds it, in branch order, each with the time it
    was true at head office (the newest publication the replica applied). Local reads only."""
    as_of = chain_replica_state().as_of
    names = dict(ChainBranchName.objects.values_list("code", "name"))
    rows = ChainLevel.objects.filter(sku=sku).exclude(branch=settings.BRANCH_CODE).order_by("branch")
    return [
        {"branch": row.branch, "name": names.get(row.branch, row.branch), "on_hand": row.on_hand, "as_of": as_of}
        for row in rows
    ]


@only(Mode.BRANCH)
def chain_stock_elsewhere(*, skus: list[str], limit: int = 3) -> dict[str, list[dict]]:
    """For each SKU, the other stores holding some (most first, at most ``limit``): what the stock page shows."""
    as_of = chain_replica_state().as_of
    names = dict(ChainBranchName.objects.values_list("code", "name"))
    found: dict[str, list[dict]] = {sku: [] for sku in skus}
    rows = (
        ChainLevel.objects.filter(sku__in=skus, on_hand__gt=Decimal("0"))
        .exclude(branch=settings.BRANCH_CODE)
        .order_by("sku", "-on_hand", "branch")
    )
    for row in rows:
        if len(found[row.sku]) < limit:
            found[row.sku].append(
                {
                    "branch": row.branch,
                    "name": names.get(row.branch, row.branch),
                    "on_hand": row.on_hand,
                    "as_of": as_of,
                }
            )
    return found


@only(Mode.BRANCH)
def chain_replica_status() -> dict:
    """The replica's age for the sync status and /metrics: when its figures were true at head office, how long ago,
    and whether that is older than CHAIN_STOCK_STALE_S (then the till must not show them as current)."""
    state = chain_replica_state()
    age = (timezone.now() - state.as_of).total_seconds() if state.as_of else None
    return {
        "chain_stock_as_of": state.as_of,
        "chain_stock_age_s": round(age, 1) if age is not None else None,
        "chain_stock_stale": age is None or age > settings.CHAIN_STOCK_STALE_S,
        "chain_stock_last_error": state.last_error,
    }
