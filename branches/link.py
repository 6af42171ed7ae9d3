"""Branch side of the link to head office: push the outbox, pull the change feed, snapshot stock.

These run in Celery tasks and ``manage.py sync_now``, never in a request: a sale only writes its outbox row and
kicks a push (branches/kick.py). Every HTTP call happens outside any database transaction.
"""

import fcntl
import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from branches.backoff import jittered_backoff, retry_after_parse
from branches.models import IncomingTransfer, OutboxEvent, OutboxState, RecountRequest, SyncState
from branches.services import outbox_event_envelope
from inventory.models import Product
from inventory.services import Line, stock_adjustment_record

log = logging.getLogger(__name__)

BATCH = 500
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 20
# Central asks a branch to come back later with these (branches/admission.py answers 503; a proxy may answer 429).
RETRY_LATER_STATUSES = (429, 503)


class CentralUnavailable(Exception):
    """Central could not be reached or did not answer 200. ``retry_after``: the seconds central asked this branch
    to wait (its Retry-After header on a 429/503), 0 when it did not ask."""

    def __init__(self, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def sync_state() -> SyncState:
    return SyncState.objects.get_or_create(pk=1)[0]


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Branch {settings.BRANCH_CREDENTIAL}"
    session.headers["User-Agent"] = f"ecomarket-branch/{settings.BRANCH_CODE}"
    session.trust_env = False  # never route a loopback call through a proxy from the environment
    return session


def _call(session: requests.Session, method: str, path: str, **kwargs) -> dict:
    try:
        response = session.request(
            method, f"{settings.CENTRAL_URL.rstrip('/')}{path}", timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs
        )
    except requests.RequestException as error:
        raise CentralUnavailable(f"{error.__class__.__name__}: {error}") from error
    if response.status_code != 200:
        retry_after = (
            retry_after_parse(response.headers.get("Retry-After"))
            if response.status_code in RETRY_LATER_STATUSES
            else 0.0
        )
        raise CentralUnavailable(f"HTTP {response.status_code}: {response.text[:300]}", retry_after=retry_after)
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


def outbox_push(
    *, force: bool = False, max_batches: int = 1000, progress: Callable[[int], None] | None = None
) -> PushSummary:
    """Send pending outbox events to central in seq order, 500 at a time, until none are left or central fails.

    Safe to run twice or concurrently: a second run finds the lock taken and returns; central stores each event
    once whatever is resent. An event becomes ``delivered`` only from central's answer; what central reports
    missing goes back to ``pending``. Failures back off exponentially (unless ``force``), recorded in SyncState.
    """
    summary = PushSummary()
    with _turn("push", summary) as ours:
        if not ours:
            return summary
        state = sync_state()
        if not force and state.next_push_at and state.next_push_at > timezone.now():
            summary.skipped = f"backing off until {state.next_push_at.isoformat()}"
            return summary
        session = _session()
        for _ in range(max_batches):
            batch = list(OutboxEvent.objects.filter(state=OutboxState.PENDING).order_by("seq")[:BATCH])
            if not batch:
                break
            ids = [event.id for event in batch]
            body = {
                "branch": settings.BRANCH_CODE,
                "events": [outbox_event_envelope(event=e, branch=settings.BRANCH_CODE) for e in batch],
            }
            pending = OutboxEvent.objects.filter(state=OutboxState.PENDING).count()
            try:
                answer = _call(
                    session, "POST", "/api/v1/sync/events", json=body, headers={"X-Outbox-Pending": str(pending)}
                )
            except CentralUnavailable as error:
                _push_failed(ids=ids, error=str(error))
                summary.error = str(error)
                break
            _push_answered(batch=batch, answer=answer, summary=summary)
            summary.batches += 1
            summary.sent += len(batch)
            if progress:
                progress(len(batch))
            if len(batch) < BATCH:
                # Everything that was pending has gone. Sales made meanwhile kick the next push (paced by
                # branches/kick.py), so a busy till does not keep this loop taking the write lock back to back.
                break
        return summary


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
    summary.delivered += len(delivered)
    summary.duplicates += int(answer.get("duplicates", 0))
    summary.parked += len(parked)
    summary.high_water_seq = answer.get("high_water_seq")
    SyncState.objects.filter(pk=1).update(last_push_ok_at=now, push_failures=0, next_push_at=None, last_push_error="")


@transaction.atomic
def _push_failed(*, ids: list[uuid.UUID], error: str) -> None:
    now = timezone.now()
    OutboxEvent.objects.filter(id__in=ids).update(
        last_error=error[:1000], last_attempt_at=now, attempts=F("attempts") + 1
    )
    state = SyncState.objects.select_for_update().get(pk=1)
    state.push_failures += 1
    state.last_push_error = error[:1000]
    state.last_push_error_at = now
    state.next_push_at = state.last_push_error_at + timedelta(seconds=backoff_delay(state.push_failures))
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
    kinds: dict = field(default_factory=dict)
    skipped: str = ""
    error: str = ""


def changes_pull(*, max_pages: int = 100) -> PullSummary:
    """Apply the change feed from the stored cursor on. Each page is applied in one transaction together with the
    new cursor, so a change is applied exactly once even if the worker dies between pages."""
    summary = PullSummary()
    with _turn("pull", summary) as ours:
        if not ours:
            return summary
        session = _session()
        for _ in range(max_pages):
            cursor = sync_state().pull_cursor
            try:
                answer = _call(session, "GET", "/api/v1/sync/changes", params={"since": cursor})
            except CentralUnavailable as error:
                # In a transaction, so the write queues behind the tills' like every other (ecomarket/sqlite).
                with transaction.atomic():
                    SyncState.objects.filter(pk=1).update(last_pull_error=str(error)[:1000])
                summary.error = str(error)
                break
            changes = answer.get("changes", [])
            _changes_apply(changes=changes, from_cursor=cursor, next_cursor=int(answer["next_cursor"]), summary=summary)
            if not changes:
                break
    return summary


@transaction.atomic
def _changes_apply(*, changes: list[dict], from_cursor: int, next_cursor: int, summary: PullSummary) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    if state.pull_cursor != from_cursor:  # another pull applied this page already
        return
    for change in changes:
        _change_apply(change)
        summary.applied += 1
        summary.kinds[change["kind"]] = summary.kinds.get(change["kind"], 0) + 1
    state.pull_cursor = next_cursor
    state.last_pull_at = timezone.now()
    state.last_pull_error = ""
    state.save()


def _change_apply(change: dict) -> None:
    payload = change["payload"]
    match change["kind"]:
        case "product":
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
        case "transfer":
            IncomingTransfer.objects.get_or_create(
                id=payload["transfer_id"],
                defaults={"lines": payload["lines"], "note": payload.get("note", ""), "sent_at": payload["sent_at"]},
            )
        case "resend":
            OutboxEvent.objects.filter(seq__in=payload["seqs"], state=OutboxState.DELIVERED).update(
                state=OutboxState.PENDING
            )
        case "adjustment":
            stock_adjustment_record(
                reason=payload["reason"],
                lines=[Line(sku=line["sku"], quantity=Decimal(line["delta"])) for line in payload["lines"]],
            )
        case "recount":
            RecountRequest.objects.get_or_create(
                id=change["id"],
                defaults={"skus": payload["skus"], "note": payload.get("note", ""), "requested_at": timezone.now()},
            )
        case _:
            log.warning("change %s of unknown kind %r ignored", change.get("id"), change["kind"])


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
    }
