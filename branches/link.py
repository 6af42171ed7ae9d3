"""Branch side of the link to head office: push the outbox, pull the change feed, snapshot stock.

These run in Celery tasks and ``manage.py sync_now``, never in a request: a sale only writes its outbox row and
kicks a push (branches/kick.py). Every HTTP call happens outside any database transaction.
"""

import fcntl
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.backoff import RETRY_AFTER_MAX_S, jittered_backoff, retry_after_parse
from branches.feed import change_digest
from branches.models import (
    AppliedChange,
    FailedChange,
    IncomingTransfer,
    OutboxEvent,
    OutboxState,
    RecountRequest,
    RecoveryState,
    SyncState,
)
from branches.services import outbox_event_envelope
from ecomarket import metrics
from inventory.models import Product, StockDocument, StockDocumentKind
from inventory.services import Line, stock_adjustment_record

log = logging.getLogger(__name__)

BATCH = 500
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 20
BACKOFF_CLOCK_MARGIN_S = 5.0
# Central asks a branch to come back later with these (branches/admission.py answers 503; a proxy may answer 429).
RETRY_LATER_STATUSES = (429, 503)


class CentralUnavailable(Exception):
    """Central could not be reached or did not answer 200. ``status``: its HTTP status when it answered at all;
    ``retry_after``: the seconds it asked this branch to wait (its Retry-After header on a 429/503), 0 when it did
    not ask."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class CentralRefused(CentralUnavailable):
    """This request can never succeed as sent: its body is too large (413, from central or a proxy in front of it)
    or central found an event in it malformed (400 ``invalid_event``). Sending it again unchanged would be refused
    for ever, so the push splits it instead of backing off. Any other 4xx is not the events' fault (a credential,
    a throttle, a body central cannot read at all) and backs off like an outage."""


def _refused(response: requests.Response) -> bool:
    if response.status_code == 413:
        return True
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == "invalid_event"


def sync_state() -> SyncState:
    return SyncState.objects.get_or_create(pk=1)[0]


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Branch {settings.BRANCH_CREDENTIAL}"
    session.headers["User-Agent"] = f"ecomarket-branch/{settings.BRANCH_CODE}"
    # HTTPS_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE from the environment: a store behind a corporate proxy (off for a
    # central on this machine, so a proxy meant for the internet never sees a loopback call).
    session.trust_env = settings.CENTRAL_TRUST_ENV
    if settings.CENTRAL_CA_BUNDLE:
        session.verify = settings.CENTRAL_CA_BUNDLE  # head office's certificate signed by the chain's private CA
    return metrics.link_session_instrument(session)  # counts, times, sends the request id


def _call(session: requests.Session, method: str, path: str, **kwargs) -> dict:
    try:
        response = session.request(
            method, f"{settings.CENTRAL_URL.rstrip('/')}{path}", timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs
        )
    except requests.RequestException as error:
        raise CentralUnavailable(f"{error.__class__.__name__}: {error}") from error
    if _refused(response):
        raise CentralRefused(f"HTTP {response.status_code}: {response.text[:300]}", status=response.status_code)
    if response.status_code != 200:
        retry_after = (
            retry_after_parse(response.headers.get("Retry-After"))
            if response.status_code in RETRY_LATER_STATUSES
            else 0.0
        )
        raise CentralUnavailable(
            f"HTTP {response.status_code}: {response.text[:300]}", status=response.status_code, retry_after=retry_after
        )
    try:
        return response.json()
    except ValueError as error:
        raise CentralUnavailable(f"answer is not JSON: {response.text[:200]}") from error


@contextmanager
def _exclusive(name: str):
    """One push (or pull) at a time per branch, across every worker process. The kernel drops an flock when its
    process dies, so a worker killed mid-push never leaves the branch locked out."""
    path = settings.DATA_DIR / f"{name}.lock"
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _turn(name: str, summary):
    """What a push and a pull both need before they start: a credential, and no other push (pull) running.
    Yields whether this one may go; if not, ``summary.skipped`` says why."""
    if not settings.BRANCH_CREDENTIAL:
        summary.skipped = "no BRANCH_CREDENTIAL configured"
        yield False
        return
    with _exclusive(name) as acquired:
        if not acquired:
            summary.skipped = f"another {name} is running"
        yield acquired


def backoff_delay(failures: int, *, retry_after: float = 0.0) -> float:
    """Exponential backoff with jitter, capped: 1 s, 2 s, 4 s ... up to SYNC_BACKOFF_CAP_S (15 s by default: the
    cap is also how long a branch may stay idle after central comes back), each between half and all of it; never
    sooner than central's Retry-After (``CentralUnavailable.retry_after``), which spreads a returning chain out."""
    return jittered_backoff(failures, cap=settings.SYNC_BACKOFF_CAP_S, retry_after=retry_after)


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


# ----------------------------------------------------------------------------------------------------------------
# Push
# ----------------------------------------------------------------------------------------------------------------


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
    """One event ready to travel: the row, and its envelope already encoded (its size decides the batches)."""

    event: OutboxEvent
    body: bytes


def _outgoing(event: OutboxEvent) -> _Outgoing:
    envelope = outbox_event_envelope(event=event, branch=settings.BRANCH_CODE)
    return _Outgoing(event=event, body=json.dumps(envelope, separators=(",", ":")).encode())


def _batch_body(batch: list[_Outgoing]) -> bytes:
    head = json.dumps({"branch": settings.BRANCH_CODE}, separators=(",", ":"))[:-1].encode()
    return head + b',"events":[' + b",".join(item.body for item in batch) + b"]}"


# What the wrapper around the events costs: {"branch":"<code>","events":[ ... ]}, commas between events.
_ENVELOPE_OVERHEAD = 64


def _batches(events: list[OutboxEvent]) -> tuple[list[list[_Outgoing]], list[_Outgoing]]:
    """Cut pending events (in seq order) into batches bounded by BATCH events and SYNC_BATCH_MAX_BYTES bytes, the
    branch's side of central's body limit (MAX_REQUEST_BODY_BYTES there). An event that alone exceeds the bound can
    never be delivered: it is returned apart, to be parked with the reason."""
    limit = settings.SYNC_BATCH_MAX_BYTES - _ENVELOPE_OVERHEAD - len(settings.BRANCH_CODE)
    batches: list[list[_Outgoing]] = []
    too_large: list[_Outgoing] = []
    current: list[_Outgoing] = []
    size = 0
    for event in events:
        item = _outgoing(event)
        if len(item.body) > limit:
            too_large.append(item)
            continue
        if current and (len(current) == BATCH or size + len(item.body) + 1 > limit):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item.body) + 1
    if current:
        batches.append(current)
    return batches, too_large


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
    with _turn("push", summary) as ours:
        if not ours:
            return summary
        state = sync_state()
        if not force and backing_off(state):
            summary.skipped = f"backing off until {state.next_push_at.isoformat()}"
            return summary
        session = _session()
        if not _recovered(
            session,
            state,
            summary,
            failed=lambda error, retry_after: _push_failed(ids=[], error=error, retry_after=retry_after),
        ):
            return summary
        sent_batches = 0
        while sent_batches < max_batches:
            events = list(OutboxEvent.objects.filter(state=OutboxState.PENDING).order_by("seq")[:BATCH])
            if not events:
                break
            batches, too_large = _batches(events)
            if too_large:
                _events_park(
                    troubles={
                        item.event.id: f"too_large: {len(item.body)} bytes, more than SYNC_BATCH_MAX_BYTES "
                        f"({settings.SYNC_BATCH_MAX_BYTES}) allows in one request"
                        for item in too_large
                    },
                    summary=summary,
                )
            failed = False
            for batch in batches[: max_batches - sent_batches]:
                if not _batch_deliver(session, batch, summary, progress):
                    failed = True
                    break
                sent_batches += 1
            if failed or len(events) < BATCH:
                # Everything that was pending has gone (or central failed). Sales made meanwhile kick the next
                # push (paced by branches/kick.py), so a busy till does not keep this loop taking the write lock
                # back to back.
                break
        summary.batches = sent_batches
        return summary


def _recovered(session, state: SyncState, summary, *, failed: Callable[[str, float], None]) -> bool:
    """Before any push or pull, make sure this branch holds every event central has from it (branches/recovery.py):
    a push would reuse their seqs, and a pull would apply again the changes whose effect they carry (a restored
    box's cursor is the backup's). Runs under the push lock. False: not yet (central unreachable, or the recovery
    is stuck); ``failed`` records why, and nothing is pushed or pulled."""
    from branches import recovery

    if not recovery.recovery_due(state):
        return True
    try:
        recovery.recovery_run(session=session)
    except (CentralUnavailable, recovery.RecoveryError) as error:
        if isinstance(error, recovery.RecoveryError):
            recovery.recovery_failed(error=str(error))
        failed(f"recovery: {error}", getattr(error, "retry_after", 0.0))
        summary.error = f"recovery: {error}"
        return False
    return True


def _recovered_for_pull(session, summary: "PullSummary") -> bool:
    """The pull's side of :func:`_recovered`: the check (and any recovery) runs under the push lock, as a push's
    does; while a push holds it (perhaps recovering), this pull waits for the next one."""
    from branches import recovery

    state = sync_state()
    if not recovery.recovery_due(state):
        return True
    with _exclusive("push") as ours:
        if not ours:
            summary.skipped = "a push is running, which checks for a restore first"
            return False
        return _recovered(session, state, summary, failed=lambda error, _retry_after: _pull_failed(error=error))


def _batch_deliver(session, batch: list[_Outgoing], summary: PushSummary, progress) -> bool:
    """Send one batch; a batch central refuses as a whole is halved until each refused event stands alone, and
    that one is parked. Returns False if central could not be reached (the caller stops and backs off)."""
    todo = [batch]
    while todo:
        part = todo.pop(0)
        pending = OutboxEvent.objects.filter(state=OutboxState.PENDING).count()
        try:
            answer = _call(
                session,
                "POST",
                "/api/v1/sync/events",
                data=_batch_body(part),
                headers={"X-Outbox-Pending": str(pending), "Content-Type": "application/json"},
            )
        except CentralRefused as refusal:
            if len(part) > 1:
                half = len(part) // 2
                todo[:0] = [part[:half], part[half:]]
                continue
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
    troubles = {str(event_id): "conflict: central holds this id with another body" for event_id in answer["conflicts"]}
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
    state.last_push_ok_at, state.push_failures, state.next_push_at, state.last_push_error = now, 0, None, ""
    state.save()


@transaction.atomic
def _push_failed(*, ids: list[uuid.UUID], error: str, retry_after: float = 0.0) -> None:
    now = timezone.now()
    OutboxEvent.objects.filter(id__in=ids).update(
        last_error=error[:1000], last_attempt_at=now, attempts=F("attempts") + 1
    )
    state = SyncState.objects.select_for_update().get(pk=1)
    state.push_failures += 1
    state.last_push_error = error[:1000]
    state.last_push_error_at = now
    state.next_push_at = state.last_push_error_at + timedelta(
        seconds=backoff_delay(state.push_failures, retry_after=retry_after)
    )
    state.save()
    log.warning("push to central failed (%s in a row): %s", state.push_failures, error)


@transaction.atomic
def parked_events_retry() -> int:
    """Put parked events back in the queue, once their cause is fixed (e.g. the catalog caught up)."""
    return OutboxEvent.objects.filter(state=OutboxState.PARKED).update(state=OutboxState.PENDING)


# ----------------------------------------------------------------------------------------------------------------
# Pull
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PullSummary:
    applied: int = 0
    already_applied: int = 0
    failed: int = 0
    reported: int = 0
    resyncs: int = 0
    kinds: dict = field(default_factory=dict)
    skipped: str = ""
    error: str = ""


def changes_pull(*, max_pages: int = 100) -> PullSummary:
    """Apply the change feed from the stored cursor on, then report to central the changes that could not apply.

    Each page is applied in one transaction together with the new cursor, each change on its own savepoint with
    its AppliedChange record: a change that cannot apply is recorded as a FailedChange and skipped, so it never
    blocks the changes after it, and a change pulled again (after a resync) is never applied twice. When central
    says the cursor names no change it holds (it was restored from a backup), the pull starts again from 0.
    Before any of it, the restore check a push makes (:func:`_recovered_for_pull`): a box restored from a backup
    pulls from the backup's cursor, and must first hold the events that say which of those changes it applied."""
    summary = PullSummary()
    with _turn("pull", summary) as ours:
        if not ours:
            return summary
        session = _session()
        if not _recovered_for_pull(session, summary):
            return summary
        for _ in range(max_pages):
            cursor = sync_state().pull_cursor
            params = {"since": cursor}
            digest = _cursor_digest(cursor)
            if digest:
                params["digest"] = digest
            try:
                answer = _call(session, "GET", "/api/v1/sync/changes", params=params)
            except CentralUnavailable as error:
                _pull_failed(error=str(error))
                summary.error = str(error)
                break
            if answer.get("resync"):
                if summary.resyncs:  # once per pull: from cursor 0 there is nothing left to disagree on
                    break
                _pull_resync(from_cursor=cursor, reason=str(answer["resync"]), newest=answer.get("newest_id"))
                summary.resyncs += 1
                continue
            changes = answer.get("changes", [])
            _changes_apply(changes=changes, from_cursor=cursor, next_cursor=int(answer["next_cursor"]), summary=summary)
            if not changes:
                break
        if not summary.error:
            _failed_changes_report(session=session, summary=summary)
    return summary


def _pull_failed(*, error: str) -> None:
    # In a transaction, so the write queues behind the tills' like every other (ecomarket/sqlite).
    with transaction.atomic():
        SyncState.objects.filter(pk=1).update(last_pull_error=error[:1000], last_pull_error_at=timezone.now())


def pull_overdue() -> bool:
    """Whether no pull has run (well or not) for twice SYNC_PULL_INTERVAL_S, or the last one lies in the future
    (the clock moved back). Under a steady stream of sales the push tasks a worker runs can keep beat's pull
    messages queued until they expire; a push task then pulls too (branches/tasks.py), so a busy branch still
    gets its prices, transfers and resend requests."""
    state = sync_state()
    last = max((t for t in (state.last_pull_at, state.last_pull_error_at) if t is not None), default=None)
    if last is None:
        return True
    age = (timezone.now() - last).total_seconds()
    return age < 0 or age > 2 * settings.SYNC_PULL_INTERVAL_S


def _cursor_digest(cursor: int) -> str:
    """The digest of the change the cursor names, as this branch applied (or failed) it; "" if unknown."""
    if not cursor:
        return ""
    for model in (AppliedChange, FailedChange):
        digest = model.objects.filter(id=cursor).values_list("digest", flat=True).first()
        if digest:
            return digest
    return ""


@transaction.atomic
def _pull_resync(*, from_cursor: int, reason: str, newest) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    if state.pull_cursor != from_cursor:  # another pull moved it meanwhile
        return
    log.warning(
        "central holds no change %s as this branch knew it (%s; its newest is %s): pulling again from 0",
        from_cursor,
        reason,
        newest,
    )
    state.pull_cursor = 0
    state.last_pull_resync_at = timezone.now()
    state.last_pull_resync_reason = reason[:32]
    state.save()


@transaction.atomic
def _changes_apply(*, changes: list[dict], from_cursor: int, next_cursor: int, summary: PullSummary) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    if state.pull_cursor != from_cursor:  # another pull applied this page already
        return
    ids = [change["id"] for change in changes]
    applied = dict(AppliedChange.objects.filter(id__in=ids).values_list("id", "digest"))
    failed = {failure.id: failure for failure in FailedChange.objects.filter(id__in=ids)}
    now = timezone.now()
    for change in changes:
        digest = change_digest(change)
        if applied.get(change["id"]) == digest:
            summary.already_applied += 1
            continue
        if _change_try(change=change, digest=digest, failure=failed.get(change["id"]), now=now):
            summary.applied += 1
            summary.kinds[change["kind"]] = summary.kinds.get(change["kind"], 0) + 1
        else:
            summary.failed += 1
    state.pull_cursor = next_cursor
    state.last_pull_at = now
    state.last_pull_error = ""
    state.save()


def _change_try(*, change: dict, digest: str, failure: FailedChange | None, now) -> bool:
    """Apply one change on its own savepoint, recorded as applied with it; or, if it cannot apply, roll it back
    and record it as failed (to be reported to central). A database that is locked or gone is not the change's
    fault: that aborts the whole page, to be pulled again."""
    try:
        with transaction.atomic():
            _change_apply(change, digest=digest)
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
    """Create or update a product as central's feed and catalog describe it (branches/feed.py product_payload)."""
    Product.objects.update_or_create(
        sku=payload["sku"],
        defaults={
            "name": payload["name"],
            "unit": payload["unit"],
            "price": Decimal(payload["price"]),
            "barcode": payload.get("barcode", ""),
            "active": payload.get("active", True),
        },
    )


def _change_apply(change: dict, *, digest: str = "") -> None:
    """Apply one change in the caller's transaction. ``digest`` is the change's as the feed sent it (a failed
    change tried again keeps the one it came with); by default it is computed from ``change``."""
    digest = digest or change_digest(change)
    payload = change["payload"]
    match change["kind"]:
        case "product":
            product_apply(payload)
        case "transfer":
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
        case "resend":
            OutboxEvent.objects.filter(seq__in=payload["seqs"], state=OutboxState.DELIVERED).update(
                state=OutboxState.PENDING
            )
        case "adjustment":
            stock_adjustment_record(
                reason=payload["reason"],
                lines=[Line(sku=line["sku"], quantity=Decimal(line["delta"])) for line in payload["lines"]],
                change_id=change["id"],
                change_digest=digest,
            )
        case "recount":
            # Asked when central made it, not when this box pulled it: a box restored or rebuilt that takes the
            # request in again finds the counts it replayed from central answering it (branches/selectors.py).
            requested_at = parse_datetime(change.get("created_at") or "") or timezone.now()
            RecountRequest.objects.get_or_create(
                id=change["id"],
                defaults={"skus": payload["skus"], "note": payload.get("note", ""), "requested_at": requested_at},
            )
        case _:
            log.warning("change %s of unknown kind %r ignored", change.get("id"), change["kind"])


@transaction.atomic
def failed_changes_retry() -> int:
    """Apply again the failed changes not resolved yet, once their cause is fixed (e.g. the product now exists at
    the branch); each one that applies is recorded as applied and reported as resolved. Returns how many applied.
    Safe to run twice: an applied change is no longer a failed one."""
    now = timezone.now()
    applied = 0
    for failure in FailedChange.objects.filter(resolved_at__isnull=True).order_by("id"):
        change = {"id": failure.id, "kind": failure.kind, "payload": failure.payload}
        applied += _change_try(change=change, digest=failure.digest, failure=failure, now=now)
    return applied


def _failed_changes_report(*, session: requests.Session, summary: PullSummary) -> None:
    """Tell central which changes this branch could not apply (or applied after all), so managers see them.
    Outside any transaction; a report that does not arrive is sent again after the next pull."""
    failures = list(FailedChange.objects.filter(reported_at__isnull=True).order_by("id")[:500])
    if not failures:
        return
    body = {
        "branch": settings.BRANCH_CODE,
        "failures": [
            {
                "change_id": failure.id,
                "kind": failure.kind,
                "code": failure.code,
                "detail": failure.detail,
                "failed_at": failure.failed_at.isoformat(),
                "resolved_at": failure.resolved_at.isoformat() if failure.resolved_at else None,
            }
            for failure in failures
        ],
    }
    try:
        _call(session, "POST", "/api/v1/sync/failed-changes", json=body)
    except CentralUnavailable as error:
        log.warning("could not report %s failed change(s) to central: %s", len(failures), error)
        summary.error = f"failed changes not reported: {error}"
        return
    now = timezone.now()
    with transaction.atomic():
        for failure in failures:
            # Only if nothing changed since it was read: a newer state is reported next time.
            FailedChange.objects.filter(
                id=failure.id, reported_at__isnull=True, attempts=failure.attempts, code=failure.code
            ).filter(
                Q(resolved_at__isnull=True) if failure.resolved_at is None else Q(resolved_at=failure.resolved_at)
            ).update(reported_at=now)
    summary.reported += len(failures)


# ----------------------------------------------------------------------------------------------------------------
# Status
# ----------------------------------------------------------------------------------------------------------------


def sync_status() -> dict:
    """What the POS sync badge and ``GET /api/v1/sync/status`` show. Local reads only."""
    state = sync_state()
    pending = OutboxEvent.objects.filter(state=OutboxState.PENDING)
    oldest = pending.aggregate(oldest=Min("occurred_at"))["oldest"]
    now = timezone.now()
    reachable = state.last_push_ok_at is not None and (
        state.last_push_error_at is None or state.last_push_ok_at >= state.last_push_error_at
    )
    return {
        "branch": settings.BRANCH_CODE,
        "pending_events": pending.count(),
        "parked_events": OutboxEvent.objects.filter(state=OutboxState.PARKED).count(),
        "oldest_pending_age_s": round((now - oldest).total_seconds(), 3) if oldest else 0,
        "last_push_ok_at": state.last_push_ok_at,
        "last_push_error": state.last_push_error,
        "last_pull_at": state.last_pull_at,
        "central_reachable": reachable,
        "next_push_at": state.next_push_at,
        "pull_cursor": state.pull_cursor,
        "failed_changes": FailedChange.objects.filter(resolved_at__isnull=True).count(),
        "last_pull_resync_at": state.last_pull_resync_at,
        **_recovery_status(state),
        **_backup_status(now),
    }


def _recovery_status(state: SyncState) -> dict:
    span = state.recovery_target_seq - state.recovery_from_seq
    done = state.recovery_done_seq - state.recovery_from_seq
    recovering = state.recovery_state == RecoveryState.RECOVERING
    return {
        "recovery_state": state.recovery_state,
        "recovery_progress": {
            "replayed": state.recovery_replayed,
            "done_seq": state.recovery_done_seq,
            "target_seq": state.recovery_target_seq,
            "fraction": round(min(1.0, done / span), 3) if recovering and span > 0 else (0.0 if recovering else 1.0),
        },
        "recovery_error": state.recovery_error,
    }


def _backup_status(now) -> dict:
    from branches.backup import branch_backup_last_at

    last = branch_backup_last_at()
    return {"last_backup_at": last, "last_backup_age_s": round((now - last).total_seconds(), 1) if last else None}
