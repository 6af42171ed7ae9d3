"""Branch side: the outbox (docs/protocol.md). Every change at the branch appends one event here, in the transaction of
the change, with the next gapless seq; after the commit a push is requested, without the request ever touching the
broker.

:func:`push_after_commit` only sets a flag once the transaction commits; one daemon thread per process turns any
number of flags into one publish of the push task, by its registered name (nothing here imports the tasks). A
broker that is down or slow then delays that thread, never a sale, and the beat sweep still finds the events if
the publish is lost (docs/architecture.md, "Deployments": ``delay()`` can block for a long time).
"""

import logging
import os
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from branches.backoff import kick_pause
from branches.models import OutboxEvent, OutboxState, SyncState
from branches.protocol import SCHEMA_VERSION, EventType, envelope_build
from ecomarket.db import rows_insert, scalar, table
from ecomarket.modes import Mode, only

log = logging.getLogger(__name__)

# The push task's registered name (branches/tasks.py), part of every deployed beat schedule: published by name.
PUSH_TASK = "branches.tasks.outbox_push_task"
# The highest seq taken: the outbox's own, or the floor a restore set above the seqs central holds for this branch
# (branches/recovery.py). Plain SQL: the maximum over two tables in one statement, under the write lock.
_SEQ_HIGHEST_SQL = (
    "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM {outbox} UNION ALL SELECT seq_floor FROM {state} WHERE id = 1) t"
)


def outbox_seq_next() -> int:
    """The seq the next event takes: one above every seq taken here and above the restore's floor. Gapless only
    when read in the transaction that takes it, under the write lock (:func:`outbox_event_append`)."""
    return (scalar(_SEQ_HIGHEST_SQL.format(outbox=table(OutboxEvent), state=table(SyncState)), []) or 0) + 1


@only(Mode.BRANCH)
def outbox_event_append(*, type: str, payload: dict, occurred_at: datetime) -> OutboxEvent:
    """Append one event with the next gapless seq, and request a push once the transaction commits.

    Must run inside the caller's transaction, the one that writes the change the event describes: the seq is
    max + 1 read under SQLite's write lock (BEGIN IMMEDIATE), so concurrent writers are serialised and a rolled-back
    transaction takes its seq with it. The unique constraint on seq is the last line of defence.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_event_append must run inside the transaction of the change it records")
    seq = outbox_seq_next()
    event = OutboxEvent(seq=seq, type=type, occurred_at=occurred_at, schema=SCHEMA_VERSION, payload=payload)
    rows_insert(OutboxEvent, [event])  # a plain INSERT: on a sale's path, under the write lock
    push_after_commit()
    return event


def outbox_event_envelope(*, event: OutboxEvent, branch: str) -> dict:
    """The event as it travels to head office (docs/protocol.md)."""
    return envelope_build(
        id=event.id,
        branch=branch,
        seq=event.seq,
        type=event.type,
        occurred_at=event.occurred_at,
        schema=event.schema,
        payload=event.payload,
    )


@only(Mode.BRANCH)
def outbox_customer_contacts_erase(*, now: datetime | None = None) -> int:
    """Erase the customer contact of oversold sales' events that left the queue (delivered, or parked) and whose
    sale is more than CUSTOMER_CONTACT_RETENTION_DAYS old; returns how many. Head office holds the working copy from
    delivery on (and erases it after the oversell case is resolved); the store keeps it no longer than that. The
    clock is the sale's own time, so an event replayed from central after a restore (delivered again, that day)
    does not start it again; or its delivery or parking, for a sale stamped by a clock that ran ahead. An event still
    pending keeps its contact: it is the customer's only way to head office. Safe to run twice: an erased contact is
    gone."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CUSTOMER_CONTACT_RETENTION_DAYS)
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.filter(
                Q(occurred_at__lte=cutoff) | Q(delivered_at__lte=cutoff) | Q(last_attempt_at__lte=cutoff),
                type=EventType.SALE_COMPLETED,
                state__in=[OutboxState.DELIVERED, OutboxState.PARKED],
                payload__has_key="customer",
            )
        )
        for event in events:
            del event.payload["customer"]
        OutboxEvent.objects.bulk_update(events, ["payload"])
    return len(events)


# Rows deleted per transaction: each one holds the branch's write lock, which the tills queue for.
PRUNE_CHUNK = 2000


@only(Mode.BRANCH)
def outbox_delivered_prune(*, now: datetime | None = None) -> int:
    """Delete delivered events older than OUTBOX_RETENTION_DAYS; returns how many. Head office holds every one of
    them, so the store needs them only while head office could still lose them: a head office restored from a dump
    taken after their delivery has them; one restored from an older dump asks for them again (the push resends what
    lies above its high-water mark). The retention must therefore outlast the oldest head office backup anyone
    would restore from.

    Never deleted: a pending or parked event (the only copy); one above central's high-water mark (central may still
    ask for it, or its answer was lost); the newest delivered event, whose seq tells the recovery check and the next
    seq where this branch's history ends. The seq floor is raised past what goes, so no seq is handed out again
    even if that row went too. Chunked, each chunk in its own short transaction. Safe to run twice: a second run
    finds nothing more to delete."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    deleted = 0
    while True:
        # The limits are read again in each transaction: a push may meanwhile have learnt that central went back.
        with transaction.atomic():
            high_water = SyncState.objects.filter(pk=1).values_list("central_high_water", flat=True).first() or 0
            delivered = OutboxEvent.objects.filter(state=OutboxState.DELIVERED)
            newest = delivered.order_by("-seq").values_list("seq", flat=True).first() or 0
            seqs = list(
                delivered.filter(delivered_at__lte=cutoff, seq__lte=min(newest - 1, high_water))
                .order_by("seq")
                .values_list("seq", flat=True)[:PRUNE_CHUNK]
            )
            if not seqs:
                return deleted
            SyncState.objects.filter(pk=1, seq_floor__lt=seqs[-1]).update(seq_floor=seqs[-1])
            deleted += OutboxEvent.objects.filter(seq__in=seqs).delete()[0]


# ----------------------------------------------------------------------------------------------------------------
# The push requested after a commit
# ----------------------------------------------------------------------------------------------------------------

_push_wanted = threading.Event()
_publisher_pid: int | None = None
_guard = threading.Lock()


def push_after_commit() -> None:
    """Ask for a push after the current transaction commits. Cheap and never blocks."""
    transaction.on_commit(_push_request)


def _push_request() -> None:
    _publisher_ensure()
    _push_wanted.set()


def _publisher_ensure() -> None:
    global _publisher_pid
    # gunicorn forks workers after import: each process needs its own thread.
    if _publisher_pid == os.getpid():
        return
    with _guard:
        if _publisher_pid != os.getpid():
            _push_wanted.clear()
            threading.Thread(
                target=_push_publisher, args=(_push_wanted,), name="outbox-push-publisher", daemon=True
            ).start()
            _publisher_pid = os.getpid()


def _push_publisher(wanted: threading.Event) -> None:
    """Turn each setting of ``wanted`` (the process's flag) into one publish of the push task, then rest."""
    from celery import current_app

    while True:
        wanted.wait()
        wanted.clear()
        try:
            current_app.send_task(PUSH_TASK, retry=False, expires=60)
        except Exception as error:
            log.warning("could not publish outbox_push_task (the beat sweep will push): %s", error)
        # Pacing, not synchronisation: about one push request per interval per process. The sales committed
        # meanwhile set the flag again and travel in the next push together, so a busy till pushes a few batches a
        # second instead of one per sale, each taking the branch's write lock and a worker's CPU. The pause is
        # jittered (kick_pause), so stores that start selling together do not reach central in lockstep.
        time.sleep(kick_pause(settings.SYNC_KICK_INTERVAL_S))
