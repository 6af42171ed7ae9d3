"""Branch side: push the outbox to head office (``POST /api/v1/sync/events``).

Pending events go in seq order, in batches bounded in count and in bytes; an event becomes delivered only from
central's answer, what central reports missing goes back to pending, and what it can never take is parked with the
reason (a dead letter, never deleted). An event that cannot even be delivered whole (too large for any request, or
refused alone) travels as a small stand-in under its id and seq (``event.undeliverable``), which central records as a
rejection: the seq is then a known hole there, not a missing one, and the branch's high-water mark, reports and
snapshot checks go on past it. Failures back off (SyncState, so a restart forgets nothing). This runs in
Celery tasks and ``manage.py sync_now``, never in a request: a sale only appends its outbox row and requests a push
(branches/outbox.py). Every HTTP call happens outside any database transaction.
"""

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from branches import recovery
from branches.backoff import RETRY_AFTER_MAX_S, backoff_after_failure, refusals_counted
from branches.central_client import (
    CentralRefused,
    CentralUnavailable,
    central_call,
    central_session,
    credential_and_lock,
)
from branches.models import OutboxEvent, OutboxState, RecoveryState, SyncState
from branches.outbox import outbox_event_envelope
from branches.protocol import (
    CLOCK_HEADER,
    MAX_BATCH,
    EventType,
    body_hash,
    clock_header_value,
    event_undeliverable_payload,
)
from branches.sync_status import sync_state
from ecomarket.modes import Mode, only

log = logging.getLogger(__name__)

BACKOFF_CLOCK_MARGIN_S = 5.0


def backoff_delay(failures: int, *, retry_after: float = 0.0, refusals: int = 0) -> float:
    """Exponential backoff with jitter, capped: 1 s, 2 s, 4 s ... up to SYNC_BACKOFF_CAP_S (15 s by default: the
    cap is also how long a branch may stay idle after central comes back), each between half and all of it; never
    sooner than central's Retry-After (``CentralUnavailable.retry_after``), which spreads a returning chain out.
    While central answers asking for a wait, the exponent counts those ``refusals`` only (backoff_after_failure)."""
    return backoff_after_failure(failures, refusals, cap=settings.SYNC_BACKOFF_CAP_S, retry_after=retry_after)


def backing_off(state: SyncState) -> bool:
    """Whether a failed push's backoff still holds. One further ahead than any backoff could be (the cap, or the
    longest Retry-After honoured, and a few seconds for a clock corrected by NTP) was written by a clock that has
    since jumped back, e.g. a box that booted a year ahead: it is ignored, or that branch would not push for a
    year."""
    if state.next_push_at is None:
        return False
    now = timezone.now()
    longest = max(settings.SYNC_BACKOFF_CAP_S, RETRY_AFTER_MAX_S) + BACKOFF_CLOCK_MARGIN_S
    return now < state.next_push_at <= now + timedelta(seconds=longest)


@dataclass
class PushSummary:
    batches: int = 0
    sent: int = 0
    delivered: int = 0
    duplicates: int = 0
    parked: int = 0
    resent: int = 0
    skipped: str = ""
    error: str = ""
    high_water_seq: int | None = None


@dataclass
class _Outgoing:
    """One event ready to travel: the row, and its envelope already encoded (its size decides the batches), or the
    stand-in sent in its place."""

    event: OutboxEvent
    body: bytes
    stand_in: bool = False


def _encoded(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def _outgoing(event: OutboxEvent) -> _Outgoing:
    return _Outgoing(event=event, body=_encoded(outbox_event_envelope(event=event, branch=settings.BRANCH_CODE)))


def _stand_in(item: _Outgoing, *, reason: str) -> _Outgoing:
    """The ``event.undeliverable`` sent under ``item``'s id and seq, naming its type, size, body hash and ``reason``."""
    envelope = outbox_event_envelope(event=item.event, branch=settings.BRANCH_CODE)
    envelope["payload"] = event_undeliverable_payload(
        type=envelope["type"], size=len(item.body), body_hash=body_hash(envelope), reason=reason
    )
    envelope["type"] = EventType.EVENT_UNDELIVERABLE
    return _Outgoing(event=item.event, body=_encoded(envelope), stand_in=True)


def _batch_body(batch: list[_Outgoing]) -> bytes:
    head = json.dumps({"branch": settings.BRANCH_CODE}, separators=(",", ":"))[:-1].encode()
    return head + b',"events":[' + b",".join(item.body for item in batch) + b"]}"


# What the wrapper around the events costs: {"branch":"<code>","events":[ ... ]}, commas between events.
_ENVELOPE_OVERHEAD = 64


def _batches(events: list[OutboxEvent]) -> list[list[_Outgoing]]:
    """Cut pending events (in seq order) into batches bounded by MAX_BATCH events and SYNC_BATCH_MAX_BYTES bytes, the
    branch's side of central's body limit (MAX_REQUEST_BODY_BYTES there). An event that alone exceeds the bound can
    never be delivered: its stand-in travels in its place."""
    limit = settings.SYNC_BATCH_MAX_BYTES - _ENVELOPE_OVERHEAD - len(settings.BRANCH_CODE)
    batches: list[list[_Outgoing]] = []
    current: list[_Outgoing] = []
    size = 0
    for event in events:
        item = _outgoing(event)
        if len(item.body) > limit:
            item = _stand_in(
                item,
                reason=f"too_large: {len(item.body)} bytes, more than SYNC_BATCH_MAX_BYTES "
                f"({settings.SYNC_BATCH_MAX_BYTES}) allows in one request",
            )
        if current and (len(current) == MAX_BATCH or size + len(item.body) + 1 > limit):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item.body) + 1
    if current:
        batches.append(current)
    return batches


@only(Mode.BRANCH)
def outbox_push(
    *, force: bool = False, max_batches: int = 1000, progress: Callable[[int], None] | None = None
) -> PushSummary:
    """Send pending outbox events to central in seq order, in batches bounded in count (500) and in bytes
    (SYNC_BATCH_MAX_BYTES), until none are left or central fails.

    Safe to run twice or concurrently: a second run finds the lock taken and returns; central stores each event
    once whatever is resent. An event becomes ``delivered`` only from central's answer; what central reports
    missing goes back to ``pending``. Failures back off exponentially (unless ``force``), recorded in SyncState.
    No batch is refused for ever: an event too large for any batch is parked with the reason, and a batch central
    refuses as a whole (413, an event's malformed envelope) is split until the event at fault is found and parked.
    """
    summary = PushSummary()
    with credential_and_lock("push", summary) as ours:
        if not ours:
            return summary
        state = sync_state()
        if not force and backing_off(state):
            summary.skipped = f"backing off until {state.next_push_at.isoformat()}"
            return summary
        session = central_session()
        if not recovery.recovered_before_sync(
            session,
            state,
            summary,
            failed=lambda error, retry_after: _push_failed(ids=[], error=error, retry_after=retry_after),
        ):
            return summary
        sent_batches = 0
        while sent_batches < max_batches:
            events = list(OutboxEvent.objects.filter(state=OutboxState.PENDING).order_by("seq")[:MAX_BATCH])
            if not events:
                break
            batches = _batches(events)
            failed = False
            for batch in batches[: max_batches - sent_batches]:
                if not _batch_deliver(session, batch, summary, progress):
                    failed = True
                    break
                sent_batches += 1
            if failed or len(events) < MAX_BATCH:
                # Everything that was pending has gone (or central failed). Sales made meanwhile request the next
                # push (paced by branches/outbox.py), so a busy till does not keep this loop taking the write lock
                # back to back.
                break
        summary.batches = sent_batches
        return summary


def _batch_deliver(session, batch: list[_Outgoing], summary: PushSummary, progress) -> bool:
    """Send one batch; a batch central refuses as a whole is halved until each refused event stands alone, and
    that one is sent as its stand-in (parked from central's answer, like any rejection). Returns False if central
    could not be reached (the caller stops and backs off)."""
    todo = [batch]
    while todo:
        part = todo.pop(0)
        pending = OutboxEvent.objects.filter(state=OutboxState.PENDING).count()
        try:
            answer = central_call(
                session,
                "POST",
                "/api/v1/sync/events",
                data=_batch_body(part),
                headers={
                    "X-Outbox-Pending": str(pending),
                    "Content-Type": "application/json",
                    CLOCK_HEADER: clock_header_value(timezone.now()),
                },
            )
        except CentralRefused as refusal:
            if len(part) > 1:
                half = len(part) // 2
                todo[:0] = [part[:half], part[half:]]
                continue
            if not part[0].stand_in:
                todo.insert(0, [_stand_in(part[0], reason=f"refused: {refusal}")])
                continue
            # Not even the stand-in is taken (a central that refuses every request of this branch as malformed):
            # parked all the same, so the rest flows, but central cannot account the seq.
            log.error("the stand-in of event %s was refused too: %s", part[0].event.id, refusal)
            _events_park(troubles={part[0].event.id: f"refused: {refusal}"[:1000]}, summary=summary)
            continue
        except CentralUnavailable as error:
            _push_failed(ids=[item.event.id for item in part], error=str(error), retry_after=error.retry_after)
            summary.error = str(error)
            return False
        _push_answered(batch=[item.event for item in part], answer=answer, summary=summary)
        summary.sent += len(part)
        if progress:
            progress(len(part))
    return True


@transaction.atomic
def _events_park(*, troubles: dict[uuid.UUID, str], summary: PushSummary) -> None:
    """Park events central will never take as sent, each with its reason (visible in admin and sync status)."""
    now = timezone.now()
    for event_id, reason in troubles.items():
        OutboxEvent.objects.filter(id=event_id, state=OutboxState.PENDING).update(
            state=OutboxState.PARKED, last_error=reason, last_attempt_at=now, attempts=F("attempts") + 1
        )
        log.warning("event %s parked: %s", event_id, reason)
    summary.parked += len(troubles)


@transaction.atomic
def _push_answered(*, batch: list[OutboxEvent], answer: dict, summary: PushSummary) -> None:
    now = timezone.now()
    conflict = "conflict: central holds this id, or the document it records, with another body"
    troubles = {str(event_id): conflict for event_id in answer["conflicts"]}
    troubles.update({item["id"]: f"rejected: {item['code']}: {item['detail']}" for item in answer["rejected"]})
    # The attempt is counted with its outcome, in the same UPDATE: this transaction holds the branch's write lock,
    # which every till is queuing for, so a delivered batch is one statement, not one for the attempt and one more
    # for the outcome.
    attempted = {"last_attempt_at": now, "attempts": F("attempts") + 1}
    parked = [event.id for event in batch if str(event.id) in troubles]
    for event_id in parked:
        OutboxEvent.objects.filter(id=event_id).update(
            state=OutboxState.PARKED, last_error=troubles[str(event_id)], **attempted
        )
    delivered = [event.id for event in batch if str(event.id) not in troubles]
    OutboxEvent.objects.filter(id__in=delivered).update(
        state=OutboxState.DELIVERED, delivered_at=now, last_error="", **attempted
    )
    missing = [seq for seq in answer.get("missing_seqs", []) if isinstance(seq, int)]
    summary.resent += OutboxEvent.objects.filter(seq__in=missing, state=OutboxState.DELIVERED).update(
        state=OutboxState.PENDING
    )
    high_water = answer.get("high_water_seq")
    state = SyncState.objects.select_for_update().get(pk=1)
    if isinstance(high_water, int):
        if high_water < state.central_high_water:
            # Central's high-water mark only grows, unless central was restored from a backup and lost what it
            # had acknowledged since: offer everything above it again (duplicates cost nothing there), parked
            # events too, since the record of why they were refused went with the rest.
            summary.resent += OutboxEvent.objects.filter(
                seq__gt=high_water, state__in=[OutboxState.DELIVERED, OutboxState.PARKED]
            ).update(state=OutboxState.PENDING)
            log.warning(
                "central's high-water mark went back from %s to %s: it lost events; sending them again",
                state.central_high_water,
                high_water,
            )
        local_max = OutboxEvent.objects.aggregate(m=Max("seq"))["m"] or 0
        if high_water > local_max:
            # Central holds events of this branch beyond anything this database has: it was restored.
            state.recovery_state = RecoveryState.CHECK
        state.central_high_water = high_water
    summary.delivered += len(delivered)
    summary.duplicates += int(answer.get("duplicates", 0))
    summary.parked += len(parked)
    summary.high_water_seq = high_water
    state.last_push_ok_at, state.push_failures, state.push_refusals = now, 0, 0
    state.next_push_at, state.last_push_error = None, ""
    state.save()


@transaction.atomic
def _push_failed(*, ids: list[uuid.UUID], error: str, retry_after: float = 0.0) -> None:
    now = timezone.now()
    OutboxEvent.objects.filter(id__in=ids).update(
        last_error=error[:1000], last_attempt_at=now, attempts=F("attempts") + 1
    )
    state = SyncState.objects.select_for_update().get(pk=1)
    state.push_failures += 1
    state.push_refusals = refusals_counted(state.push_refusals, retry_after=retry_after)
    state.last_push_error = error[:1000]
    state.last_push_error_at = now
    state.next_push_at = state.last_push_error_at + timedelta(
        seconds=backoff_delay(state.push_failures, retry_after=retry_after, refusals=state.push_refusals)
    )
    state.save()
    log.warning("push to central failed (%s in a row): %s", state.push_failures, error)


@only(Mode.BRANCH)
@transaction.atomic
def parked_events_retry() -> int:
    """Put parked events back in the queue, once their cause is fixed (e.g. the catalog caught up)."""
    return OutboxEvent.objects.filter(state=OutboxState.PARKED).update(state=OutboxState.PENDING)
