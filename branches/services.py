"""Branch side of the link: the outbox (DESIGN.md §4)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from branches.kick import push_soon
from branches.models import OutboxEvent, OutboxState, SyncState
from ecomarket.db import rows_insert, scalar, table

SCHEMA_VERSION = 1
NEXT_SEQ_SQL = (
    "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM {outbox} UNION ALL SELECT seq_floor FROM {state} WHERE id = 1) t"
)


def outbox_event_append(*, type: str, payload: dict, occurred_at: datetime) -> OutboxEvent:
    """Append one event with the next gapless seq.

    Must run inside the caller's transaction, the one that writes the change the event describes: the seq is
    max + 1 read under SQLite's write lock (BEGIN IMMEDIATE), so concurrent writers are serialised and a rolled-back
    transaction takes its seq with it. The unique constraint on seq is the last line of defence.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_event_append must run inside the transaction of the change it records")
    seq = (scalar(NEXT_SEQ_SQL.format(outbox=table(OutboxEvent), state=table(SyncState)), []) or 0) + 1
    event = OutboxEvent(seq=seq, type=type, occurred_at=occurred_at, schema=SCHEMA_VERSION, payload=payload)
    rows_insert(OutboxEvent, [event])  # a plain INSERT: on a sale's path, under the write lock
    push_soon()
    return event


def outbox_event_envelope(*, event: OutboxEvent, branch: str) -> dict:
    """The event as it travels to head office (DESIGN.md §4)."""
    return {
        "id": str(event.id),
        "branch": branch,
        "seq": event.seq,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(timespec="milliseconds"),
        "schema": event.schema,
        "payload": event.payload,
    }


def outbox_customer_contacts_erase(*, now: datetime | None = None) -> int:
    """Erase the customer contact of oversold sales' events delivered more than CUSTOMER_CONTACT_RETENTION_DAYS
    ago; returns how many. Head office holds the working copy from delivery on (and erases it after the oversell
    case is resolved); the store keeps it no longer than that. Safe to run twice: an erased contact is gone."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CUSTOMER_CONTACT_RETENTION_DAYS)
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.filter(
                type="sale.completed",
                state=OutboxState.DELIVERED,
                delivered_at__lte=cutoff,
                payload__has_key="customer",
            )
        )
        for event in events:
            del event.payload["customer"]
        OutboxEvent.objects.bulk_update(events, ["payload"])
    return len(events)
