"""Branch side: keep the replica of the chain's on-hand and the index of its recent sales
(``GET /api/v1/sync/chain-stock``), in a Celery task, never in a request. Each feed page is applied in one
transaction with the cursor it moves to; a branch starting from nothing (or whose cursor head office no longer
holds) first copies the published figures page by page (``GET /api/v1/sync/chain-stock/snapshot``), remembering
how far it got, then follows the feed from the cursor that copy named. Every HTTP call happens outside any database
transaction."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.central_client import CentralUnavailable, central_call, central_session, credential_and_lock
from branches.protocol import decimal_read
from chain.models import ChainBranchName, ChainLevel, ChainReplicaState
from chain.sale_index import sale_index_prune, sale_index_write
from ecomarket.modes import Mode, only


@dataclass
class ChainPullSummary:
    batches: int = 0
    figures: int = 0
    sales: int = 0
    snapshot_pages: int = 0
    skipped: str = ""
    error: str = ""


@only(Mode.BRANCH)
def chain_replica_pull(*, max_pages: int = 50) -> ChainPullSummary:
    """Bring the replica up to head office's newest publication. One pull at a time per branch (a lock of its
    own, beside the change feed's). Safe to run twice: a page and the cursor it moves to commit together, and
    figures are absolute, so a page applied again writes the same figures."""
    summary = ChainPullSummary()
    with credential_and_lock("chain-pull", summary) as ours:
        if not ours:
            return summary
        session = central_session()
        try:
            for _ in range(max_pages):
                state = ChainReplicaState.objects.get_or_create(pk=1)[0]
                if state.snapshot_cursor is not None:
                    answer = central_call(
                        session, "GET", "/api/v1/sync/chain-stock/snapshot", params={"after": state.snapshot_after}
                    )
                    _snapshot_page_apply(answer, summary)
                    continue
                answer = central_call(session, "GET", "/api/v1/sync/chain-stock", params={"since": state.cursor})
                if answer["snapshot_required"]:
                    _snapshot_begin(session, summary)
                    continue
                _feed_page_apply(answer, from_cursor=state.cursor, summary=summary)
                if not answer["more"]:
                    break
        except CentralUnavailable as error:
            summary.error = str(error)
            with transaction.atomic():
                ChainReplicaState.objects.filter(pk=1).update(
                    last_error=str(error)[:1000], last_error_at=timezone.now()
                )
    return summary


def _own(code: str) -> bool:
    return code == settings.BRANCH_CODE


def _levels_write(levels: dict, as_of) -> int:
    """Upsert the figures of ``{branch: {sku: on_hand}}`` (this store's own left out: its figure is local)."""
    rows = [
        ChainLevel(
            branch=branch,
            sku=sku,
            on_hand=decimal_read(value, "levels.on_hand", allow_negative=True),
            changed_as_of=as_of,
        )
        for branch, figures in levels.items()
        if not _own(branch)
        for sku, value in figures.items()
    ]
    ChainLevel.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["sku", "branch"],
        update_fields=["on_hand", "changed_as_of"],
    )
    return len(rows)


def _names_write(names: dict) -> None:
    ChainBranchName.objects.bulk_create(
        [ChainBranchName(code=code, name=name) for code, name in names.items() if not _own(code)],
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name"],
    )


@transaction.atomic
def _feed_page_apply(answer: dict, *, from_cursor: int, summary: ChainPullSummary) -> None:
    state = ChainReplicaState.objects.select_for_update().get(pk=1)
    if state.cursor != from_cursor or state.snapshot_cursor is not None:  # another pull moved it meanwhile
        return
    now = timezone.now()
    for batch in answer["batches"]:
        as_of = parse_datetime(batch["as_of"])
        if batch.get("names"):
            _names_write(batch["names"])
        summary.figures += _levels_write(batch["levels"], as_of)
        summary.sales += sale_index_write(batch.get("sales") or {})
        summary.batches += 1
        state.as_of = as_of
    sale_index_prune(now=now)
    state.cursor = int(answer["next_cursor"])
    state.last_pull_at = now
    state.last_error = ""
    state.save()


def _snapshot_begin(session, summary: ChainPullSummary) -> None:
    """Start copying the published figures: the first page names the cursor the feed continues from."""
    answer = central_call(session, "GET", "/api/v1/sync/chain-stock/snapshot", params={"after": ""})
    with transaction.atomic():
        state = ChainReplicaState.objects.select_for_update().get(pk=1)
        state.snapshot_cursor = int(answer["cursor"])
        state.snapshot_as_of = parse_datetime(answer["as_of"]) if answer["as_of"] else timezone.now()
        state.snapshot_after = ""
        state.save()
    _snapshot_page_apply(answer, summary)


@transaction.atomic
def _snapshot_page_apply(answer: dict, summary: ChainPullSummary) -> None:
    state = ChainReplicaState.objects.select_for_update().get(pk=1)
    if state.snapshot_cursor is None:
        return
    _names_write(answer["names"])
    summary.figures += _levels_write(answer["levels"], state.snapshot_as_of)
    summary.sales += sale_index_write(answer.get("sales") or {})
    summary.snapshot_pages += 1
    if answer["next_after"]:
        state.snapshot_after = answer["next_after"]
        state.save()
        return
    # Copied through: figures the copy did not touch belong to a head office that no longer holds them (it was
    # restored from a backup) and go; the feed goes on from the copy's cursor.
    ChainLevel.objects.filter(changed_as_of__lt=state.snapshot_as_of).delete()
    state.cursor = state.snapshot_cursor
    state.as_of = state.snapshot_as_of
    state.snapshot_cursor = None
    state.snapshot_as_of = None
    state.snapshot_after = ""
    state.last_pull_at = timezone.now()
    state.last_error = ""
    state.save()
