"""Branch side: recover this branch's history from central after a restore (docs/protocol.md, "Seqs are never reused").

A branch restored from last night's backup, or a new box with an empty database, no longer holds events central
already stored from it. Before it pushes anything, the push asks central (``GET /api/v1/sync/events?after=``)
for its events above the highest seq it knows delivered. If central holds one this database does not, the branch
recovers:

1. in one transaction it sets its floors: new events take seqs above the highest seq central holds, new sales
   numbers above central's last sale number. Tills go on selling from that moment, never refused, and nothing they
   do can collide with what is being replayed. Writes that depend on the history (counts, returns, voids,
   receipts, and the drawer's: opening a session, cash in or out, a close) are refused with 409 ``recovering``
   until the replay is done (inventory/services.py, cash/services.py);
2. page by page, each page in short transactions, it replays the missing events (inventory/replay.py, and the
   drawer's part of them, cash/replay.py) with their original ids, seqs and sale numbers, and records them in the
   outbox as delivered. A local event that took a seq (or a sale number) central holds for another event, made
   here before the floors were set, is moved above the floor first: it never reached central (central would have
   answered a conflict), so nobody else knows its seq;
3. when the last page is in, the push carries on with whatever the tills sold meanwhile.

Progress is kept in SyncState after every transaction, so a killed worker resumes where it stopped. The push lock
(branches/central_client.py sync_lock) is held throughout: no push runs while the outbox is being renumbered.
"""

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.central_client import CentralUnavailable, central_call, central_session, sync_lock
from branches.change_apply import change_applied_record, change_try, product_apply
from branches.models import (
    ChangeKind,
    IncomingTransfer,
    OutboxEvent,
    OutboxState,
    RecoveryState,
    ReplayFailure,
    SyncState,
)
from branches.outbox import outbox_seq_next
from branches.protocol import DOCUMENT_KEYS, EventType, change_digest, document_id
from branches.sync_status import sync_state
from cash.replay import cash_event_replay
from ecomarket.modes import Mode, only
from inventory import sql as inventory_sql
from inventory.models import Product, Return, Sale, SaleStatus, StockDocument, StockMovement
from inventory.replay import event_skus, receipt_document_id, stock_event_replay

log = logging.getLogger(__name__)

# Events replayed per transaction: each one holds the branch's write lock, which the tills queue for, so it is
# kept to a fraction of a second.
REPLAY_CHUNK = 50
PAGE = 500

_checked_in_pid: int | None = None  # this process asked central once already (see recovery_due)


class RecoveryError(Exception):
    pass


@dataclass
class RecoverySummary:
    checked: bool = False
    recovering: bool = False
    replayed: int = 0
    renumbered: int = 0
    target_seq: int = 0


def recovery_due(state: SyncState) -> bool:
    """Ask central before pushing: when a restore or a push answer asked for it, while a recovery is unfinished,
    and once in every process's life (a box restarted on a file someone copied back by hand is found this way,
    before its first push can reuse a seq)."""
    return state.recovery_state != RecoveryState.IDLE or _checked_in_pid != os.getpid()


def recovered_before_sync(session, state: SyncState, summary, *, failed: Callable[[str, float], None]) -> bool:
    """Before any push or pull, make sure this branch holds every event central has from it: a push would reuse
    their seqs, and a pull would apply again the changes whose effect they carry (a restored box's cursor is the
    backup's). Runs under the push lock. False: not yet (central unreachable, or the recovery is stuck); ``failed``
    records why (with central's Retry-After, if any), ``summary.error`` says it, and nothing is pushed or pulled."""
    if not recovery_due(state):
        return True
    try:
        recovery_run(session=session)
    except (CentralUnavailable, RecoveryError) as error:
        if isinstance(error, RecoveryError):
            recovery_failed(error=str(error))
        failed(f"recovery: {error}", getattr(error, "retry_after", 0.0))
        summary.error = f"recovery: {error}"
        return False
    return True


def _delivered_max() -> int:
    return OutboxEvent.objects.filter(state=OutboxState.DELIVERED).aggregate(m=Max("seq"))["m"] or 0


def _unknown_events(events: list[dict]) -> bool:
    ids = [uuid.UUID(event["id"]) for event in events]
    return len(ids) > OutboxEvent.objects.filter(id__in=ids).count()


class CentralCannotTell(Exception):
    """Central does not serve its branches' events back (a central older than this branch: upgrade it first)."""


def _page(session, after: int) -> dict:
    try:
        return central_call(session, "GET", "/api/v1/sync/events", params={"after": after, "limit": PAGE})
    except CentralUnavailable as error:
        if error.status in (404, 405):
            raise CentralCannotTell(str(error)) from error
        raise


@only(Mode.BRANCH)
def recovery_run(
    *, session=None, progress: Callable[[int, int], None] | None = None, replay: bool = True
) -> RecoverySummary:
    """Check with central and, if it holds events this branch lacks, recover them (module docstring). Runs under
    the caller's push lock, outside any transaction; raises CentralUnavailable if central cannot answer (the
    push backs off and tries again). ``progress(done, total)`` is called after each replayed chunk. Without
    ``replay`` it stops once the floors are set (``manage.py restore``: the tills may sell at once, the worker's
    next push replays)."""
    global _checked_in_pid
    session = session or central_session()
    summary = RecoverySummary(checked=True)
    state = sync_state()
    try:
        return _recovery_run(session=session, summary=summary, state=state, progress=progress, replay=replay)
    except CentralCannotTell as error:
        # Refusing to push until central is upgraded would stop the branch's sync for good; without the endpoint
        # there is nothing to recover from anyway.
        log.error("central cannot serve this branch's events back (%s): no restore check was possible", error)
        _recovery_idle()
        _checked_in_pid = os.getpid()
        return summary


def _recovery_run(*, session, summary: RecoverySummary, state: SyncState, progress, replay: bool) -> RecoverySummary:
    global _checked_in_pid
    if state.recovery_state == RecoveryState.RECOVERING:
        after = state.recovery_done_seq
        answer = _page(session, after)
    else:
        after = _delivered_max()
        answer = _page(session, after)
        # Central's events above what this branch knows delivered are normally the few whose answer was lost;
        # any it holds that this database does not means the database went back in time.
        while not _unknown_events(answer["events"]):
            if not answer["more"]:
                _recovery_idle()
                _checked_in_pid = os.getpid()
                return summary
            answer = _page(session, answer["next_after"])
        _recovery_begin(after=after, answer=answer)
        log.warning(
            "central holds events of %s this database does not (seqs above %s up to %s): recovering them",
            settings.BRANCH_CODE,
            after,
            answer["max_seq_seen"],
        )
    summary.recovering = True
    state = sync_state()
    summary.target_seq = state.recovery_target_seq
    if not replay:
        return summary
    total = max(0, state.recovery_target_seq - state.recovery_from_seq)
    while True:
        events = answer["events"]
        missing = set().union(*(event_skus(event["payload"]) for event in events)) - set(
            Product.objects.filter(
                sku__in={sku for event in events for sku in event_skus(event["payload"])}
            ).values_list("sku", flat=True)
        )
        if missing:
            # A box rebuilt from a catalog older than its events: take central's. An event naming a SKU central no
            # longer has either is recorded as not replayed (ReplayFailure) and the rest goes on.
            catalog_restore(session=session)
        summary.renumbered += _stale_copies_drop(events)
        for start in range(0, len(events), REPLAY_CHUNK):
            chunk = events[start : start + REPLAY_CHUNK]
            replayed, renumbered = _chunk_replay(chunk)
            summary.replayed += replayed
            summary.renumbered += renumbered
            if progress:
                progress(chunk[-1]["seq"] - state.recovery_from_seq, total)
        if not answer["more"]:
            break
        answer = _page(session, answer["next_after"])
    _recovery_idle()
    _checked_in_pid = os.getpid()
    log.warning(
        "recovery of %s done: %s events replayed, %s local events renumbered above seq %s",
        settings.BRANCH_CODE,
        summary.replayed,
        summary.renumbered,
        summary.target_seq,
    )
    return summary


@transaction.atomic
def _recovery_begin(*, after: int, answer: dict) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    state.recovery_state = RecoveryState.RECOVERING
    state.recovery_from_seq = after
    state.recovery_done_seq = after
    state.recovery_target_seq = answer["max_seq_seen"]
    state.recovery_replayed = 0
    state.recovery_error = ""
    state.seq_floor = max(state.seq_floor, answer["max_seq_seen"])
    state.sale_number_floor = max(state.sale_number_floor, answer["last_sale_number"])
    state.central_high_water = answer["high_water_seq"]
    state.save()


@transaction.atomic
def _recovery_idle() -> None:
    SyncState.objects.filter(pk=1).update(recovery_state=RecoveryState.IDLE, recovery_error="")


@transaction.atomic
def recovery_failed(*, error: str) -> None:
    SyncState.objects.filter(pk=1).update(recovery_error=error[:1000])


@transaction.atomic
def _chunk_replay(events: list[dict]) -> tuple[int, int]:
    """Replay a chunk of central's events in one transaction (BEGIN IMMEDIATE: the write lock, briefly) and move
    the recovery's progress with it. Returns (replayed, renumbered).

    Every event ends up in the outbox as delivered (central holds it), applied or not: one the box cannot apply is
    recorded in ReplayFailure and the rest goes on, so no event stops the replay, and a chunk replayed again (a
    worker killed after the commit) finds its events in the outbox and changes nothing."""
    ids = [uuid.UUID(event["id"]) for event in events]
    local = {event.id: event for event in OutboxEvent.objects.filter(id__in=ids)}
    by_seq = {event.seq: event for event in OutboxEvent.objects.filter(seq__in=[e["seq"] for e in events])}
    catalog = set(
        Product.objects.filter(sku__in={sku for e in events for sku in event_skus(e["payload"])}).values_list(
            "sku", flat=True
        )
    )
    now = timezone.now()
    replayed = renumbered = 0
    for event, event_id in zip(events, ids, strict=True):
        mine = local.get(event_id)
        if mine is not None:
            if mine.state == OutboxState.PENDING:  # central has it: a resend would only be a duplicate
                OutboxEvent.objects.filter(id=event_id).update(state=OutboxState.DELIVERED, delivered_at=now)
            continue
        taken = by_seq.get(event["seq"])
        if taken is not None:
            if taken.state == OutboxState.DELIVERED:
                # Central holds this seq as another event than the one delivered here: nothing to write it under.
                _replay_failed(event, code="seq_taken", detail=f"seq {taken.seq} is delivered here as {taken.id}")
                continue
            _event_renumber(taken)
            renumbered += 1
        occurred_at = parse_datetime(event["occurred_at"])
        failure = _event_apply(event, occurred_at=occurred_at, catalog=catalog)
        _change_replayed(event, now=now)
        OutboxEvent.objects.create(
            id=event_id,
            seq=event["seq"],
            type=event["type"],
            occurred_at=occurred_at,
            schema=event["schema"],
            payload=event["payload"],
            state=OutboxState.DELIVERED,
            delivered_at=now,
            last_error=f"not replayed here: {failure[1]}"[:1000] if failure else "",
        )
        if failure:
            _replay_failed(event, code=failure[0], detail=failure[1])
        replayed += 1
    state = SyncState.objects.select_for_update().get(pk=1)
    state.recovery_done_seq = max(state.recovery_done_seq, events[-1]["seq"])
    state.recovery_replayed += replayed
    state.save(update_fields=["recovery_done_seq", "recovery_replayed"])
    return replayed, renumbered


# What a payload this box cannot read raises while it is replayed. A database that cannot be written (a full disk)
# is not among them: that stops the recovery, which the next push resumes.
_UNREADABLE = (LookupError, TypeError, ValueError, ArithmeticError, AttributeError, IntegrityError, ObjectDoesNotExist)


def _event_apply(event: dict, *, occurred_at, catalog: set[str]) -> tuple[str, str] | None:
    """Apply one of central's events here, in a savepoint; (code, detail) if it cannot be, with nothing of it
    written. A document this box already holds from a local event central never had (a till's retry, a form
    submitted again, before the box knew it was restored) is first taken back (:func:`_document_take_back`):
    central's event is the one counted, at both ends."""
    missing = event_skus(event["payload"]) - catalog
    if missing:
        return "unknown_sku", f"names SKUs not in this branch's catalog: {', '.join(sorted(missing)[:5])}"
    try:
        with transaction.atomic():
            _document_take_back(event)
            if event["type"] == EventType.SALE_COMPLETED:
                _sale_number_free(event["payload"].get("number"), sale_id=event["payload"].get("sale_id"))
            stock_event_replay(seq=event["seq"], type=event["type"], occurred_at=occurred_at, payload=event["payload"])
            cash_event_replay(seq=event["seq"], type=event["type"], occurred_at=occurred_at, payload=event["payload"])
    except _UNREADABLE as error:
        log.exception("central's event %s (seq %s) could not be replayed here", event["id"], event["seq"])
        return "not_applied", f"{type(error).__name__}: {error}"[:1000]
    return None


def _replay_failed(event: dict, *, code: str, detail: str) -> None:
    ReplayFailure.objects.update_or_create(
        event_id=event["id"],
        defaults={
            "seq": event["seq"],
            "type": event["type"],
            "code": code,
            "detail": detail[:1000],
            "failed_at": timezone.now(),
        },
    )
    log.error("event %s (seq %s) not replayed: %s: %s", event["id"], event["seq"], code, detail)


def _held_document(event: dict):
    """The row of the document ``event`` records, if this box holds it already (looked up by primary key: the
    outbox is searched only when it is found, which is rare)."""
    payload, type_ = event["payload"], event["type"]
    document = document_id(type_, payload)
    if type_ == EventType.STOCK_RECEIVED and document is None:
        document = receipt_document_id(seq=event["seq"])
    if document is None:
        return None, None
    match type_:
        case EventType.SALE_COMPLETED:
            return document, Sale.objects.filter(pk=document).first()
        case EventType.SALE_VOIDED:
            return document, Sale.objects.filter(pk=document, status=SaleStatus.VOIDED).first()
        case EventType.RETURN_COMPLETED:
            return document, Return.objects.filter(pk=document).first()
        case EventType.STOCK_COUNTED | EventType.STOCK_RECEIVED:
            return document, StockDocument.objects.filter(pk=document).first()
    return None, None


def _document_take_back(event: dict) -> None:
    """If this box holds the document ``event`` records, made here by a local event central never had, take that
    local event's effect and document back, so central's event (replayed next) is the one counted. The local event
    stays in the outbox, marked: it goes to central, which refuses it as a duplicate document, and the push parks
    it. A sale's number the till showed for the retry stays spent (the floor moves above it)."""
    document, row = _held_document(event)
    if row is None:
        return
    key = DOCUMENT_KEYS[event["type"]]
    holder = (
        OutboxEvent.objects.filter(type=event["type"], **{f"payload__{key}": str(document)})
        .exclude(id=event["id"])
        .first()
        if key in event["payload"]
        else None
    )
    if holder is not None and holder.state == OutboxState.DELIVERED:
        raise IntegrityError(f"{key} {document} is delivered here as event {holder.id}, another event than central's")
    if holder is not None:
        _event_effect_undo(holder)
        OutboxEvent.objects.filter(id=holder.id).update(
            last_error=f"central holds this {key} {document} as event {event['id']} (seq {event['seq']}): "
            "not counted here; central refuses this one as a duplicate"
        )
        log.warning("local event %s took back: central holds %s %s as %s", holder.id, key, document, event["id"])
    _document_drop(event["type"], row)


def _document_drop(type_: str, row) -> None:
    """Take back the document row an event of ``type_`` made (its ledger rows are taken back by the caller)."""
    match type_:
        case EventType.SALE_COMPLETED:
            SyncState.objects.filter(pk=1, sale_number_floor__lt=row.number).update(sale_number_floor=row.number)
            row.delete()
        case EventType.SALE_VOIDED:
            Sale.objects.filter(pk=row.pk).update(status=SaleStatus.COMPLETED, voided_at=None, void_reason="")
        case EventType.RETURN_COMPLETED:
            row.delete()
        case _:
            if row.transfer_id:
                IncomingTransfer.objects.filter(id=row.transfer_id).update(
                    state=IncomingTransfer.State.IN_TRANSIT, received_at=None
                )
            row.delete()


@transaction.atomic
def _stale_copies_drop(events: list[dict]) -> int:
    """Local events central holds under another seq than this box does (a box restored from a backup taken while
    it was cut off from central: its events were renumbered above central's when it recovered then, and this older
    copy still has them at their first seqs and sale numbers). Central's copy is the one the chain knows: the local
    one is taken back, effect and document, and central's is replayed in its place, seq, number and all. Before a
    page is replayed, so the local copy is not first moved above the floor as if central never had it (its seq
    would then be a hole). Returns how many."""
    central_seq = {uuid.UUID(event["id"]): event["seq"] for event in events}
    stale = [event for event in OutboxEvent.objects.filter(id__in=central_seq) if event.seq != central_seq[event.id]]
    for event in stale:
        _event_effect_undo(event)
        probe = {"id": str(uuid.uuid4()), "seq": event.seq, "type": event.type, "payload": event.payload}
        _, row = _held_document(probe)
        if row is not None:
            _document_drop(event.type, row)
        OutboxEvent.objects.filter(id=event.id).delete()
        log.warning("local event %s at seq %s: central holds it at seq %s", event.id, event.seq, central_seq[event.id])
    return len(stale)


def _event_effect_undo(event: OutboxEvent) -> None:
    """Take a local event's ledger rows out, and their amounts out of the on-hand projection."""
    movements = list(StockMovement.objects.filter(branch=settings.BRANCH_CODE, seq=event.seq))
    totals: dict[tuple[str, str], Decimal] = {}
    for movement in movements:
        key = (movement.branch, movement.product_id)
        totals[key] = totals.get(key, Decimal("0")) - movement.quantity
    StockMovement.objects.filter(pk__in=[movement.pk for movement in movements]).delete()
    if totals:
        inventory_sql.stock_levels_add(deltas=totals, now=timezone.now())


def _change_replayed(event: dict, *, now) -> None:
    """An event that applied a change-feed item (a ``stock.adjusted`` carrying the change's id and digest: an
    adjustment head office ordered, or goods shipped to another branch) records that change as applied, as the pull
    did when it applied it: the restored box's cursor is older, and pulling the change again must not apply it
    twice. Events written before they carried the change are left alone (nothing to tell which change it was)."""
    payload = event["payload"]
    change_id, digest = payload.get("change_id"), payload.get("change_digest")
    if event["type"] == EventType.STOCK_ADJUSTED and isinstance(change_id, int) and isinstance(digest, str) and digest:
        change_applied_record(change_id=change_id, kind=ChangeKind.ADJUSTMENT, digest=digest, now=now)


def _event_renumber(event: OutboxEvent) -> None:
    """Move a local event that central never saw off a seq central holds for another one: to the next free seq
    (above the floor), with its ledger rows."""
    if event.state == OutboxState.DELIVERED:
        raise RecoveryError(f"seq {event.seq} is delivered here as {event.id} and held by central as another event")
    new_seq = outbox_seq_next()
    OutboxEvent.objects.filter(id=event.id).update(seq=new_seq)
    StockMovement.objects.filter(branch=settings.BRANCH_CODE, seq=event.seq).update(seq=new_seq)
    log.warning("local event %s moved from seq %s to %s (central holds %s)", event.id, event.seq, new_seq, event.seq)


def _sale_number_free(number, *, sale_id) -> None:
    """A sale made here before the floors were set may carry a number central holds for another sale: it moves
    above the floor, and its undelivered event says so."""
    if not isinstance(number, int):
        return
    clash = Sale.objects.filter(branch=settings.BRANCH_CODE, number=number).exclude(pk=sale_id).first()
    if clash is None:
        return
    new_number = inventory_sql.sale_number_next(branch=clash.branch)
    Sale.objects.filter(pk=clash.pk).update(number=new_number)
    for event in OutboxEvent.objects.filter(type=EventType.SALE_COMPLETED, payload__sale_id=str(clash.pk)):
        if event.state == OutboxState.DELIVERED:
            log.error("sale %s was delivered as number %s, which central holds for another sale", clash.pk, number)
        event.payload["number"] = new_number
        OutboxEvent.objects.filter(id=event.id).update(payload=event.payload)
    log.warning("local sale %s renumbered from %s to %s (central holds %s)", clash.pk, number, new_number, number)


# ----------------------------------------------------------------------------------------------------------------
# Catalog and change feed, for a box rebuilt from nothing
# ----------------------------------------------------------------------------------------------------------------

# What a new box takes from the feed's history, up to where the lost box applied it, besides the catalog: transfers,
# recount requests, scheduled prices and promotions (the catalog gives base prices only). Adjustments and resend
# requests are not applied again: their effect is in the branch's own events, replayed from central. The changes
# after that point are pulled as any pull takes them (every kind).
REBUILD_KINDS = {ChangeKind.TRANSFER, ChangeKind.RECOUNT, ChangeKind.PRICE, ChangeKind.PROMOTION}


@only(Mode.BRANCH)
def catalog_restore(*, session=None, progress: Callable[[int], None] | None = None) -> int:
    """Take central's whole catalog (``GET /api/v1/sync/catalog``), creating or updating each product. Idempotent.
    Returns the change-feed cursor to start from, as central answered it before the catalog was read: how far the
    lost box applied the feed (its last pull's cursor), so the changes ordered for it after that (an adjustment,
    goods it ships to another branch) are pulled here and applied, once. A central that cannot tell (it never
    heard this branch pull, or is older than this branch) gives the feed's newest change: nothing is applied twice,
    but what came after the lost box's last pull is not applied at all."""
    session = session or central_session()
    after, start = "", None
    while True:
        answer = central_call(session, "GET", "/api/v1/sync/catalog", params={"after": after})
        if start is None:
            applied = answer.get("feed_applied_cursor")
            start = answer["newest_change_id"] if applied is None else min(applied, answer["newest_change_id"])
        with transaction.atomic():
            for product in answer["products"]:
                product_apply(product)
        if progress:
            progress(len(answer["products"]))
        if not answer["more"]:
            return start
        after = answer["next_after"]


@only(Mode.BRANCH)
def feed_history_apply(*, until: int, session=None, progress: Callable[[int], None] | None = None) -> int:
    """For a box rebuilt from nothing: apply the transfers and recount requests of the change feed up to change
    ``until`` (where the lost box had applied it) and set the pull cursor there, so the regular pull takes
    everything after it, as the lost box would have. Each is applied as the pull applies it
    (branches/change_apply.py change_try): recorded as applied, or as failed (and reported) if it cannot apply
    here, so a pull that takes the feed again from 0 (a central restored later) skips it. Holds the pull lock, so
    no pull applies the same changes meanwhile. Returns how many applied."""
    session = session or central_session()
    applied = 0
    with sync_lock("pull") as ours:
        if not ours:
            raise RecoveryError("a pull is running; stop the branch's worker first")
        cursor = 0
        while cursor < until:
            answer = central_call(session, "GET", "/api/v1/sync/changes", params={"since": cursor})
            page = [change for change in answer.get("changes", []) if change["id"] <= until]
            now = timezone.now()
            with transaction.atomic():
                for change in page:
                    if change["kind"] in REBUILD_KINDS:
                        applied += change_try(change=change, digest=change_digest(change), failure=None, now=now)
                cursor = page[-1]["id"] if page else until
                SyncState.objects.filter(pk=1).update(pull_cursor=cursor)
            if progress:
                progress(len(page))
            if not page:
                break
        SyncState.objects.filter(pk=1).update(pull_cursor=until)
    return applied
