"""The branch's outbox stays bounded: delivered events central holds for good are deleted past
OUTBOX_RETENTION_DAYS, and nothing recovery, a resend or the next seq needs ever is."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import transaction

from branches.models import OutboxEvent, OutboxState, SyncState
from branches.outbox import outbox_delivered_prune, outbox_event_append

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

DELIVERED_AT = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
LATER = DELIVERED_AT + timedelta(days=settings.OUTBOX_RETENTION_DAYS + 1)


def outbox(states: list[str], *, high_water: int) -> None:
    for seq, state in enumerate(states, start=1):
        OutboxEvent.objects.create(
            seq=seq,
            type="stock.snapshot",
            occurred_at=DELIVERED_AT,
            payload={},
            state=state,
            delivered_at=DELIVERED_AT if state == OutboxState.DELIVERED else None,
        )
    SyncState.objects.update_or_create(pk=1, defaults={"central_high_water": high_water})


def seqs() -> list[int]:
    return list(OutboxEvent.objects.order_by("seq").values_list("seq", flat=True))


def test_delivered_events_past_the_retention_that_central_holds_are_deleted():
    outbox(["delivered"] * 5, high_water=5)

    assert outbox_delivered_prune(now=LATER) == 4
    assert seqs() == [5]  # the newest delivered one stays: where the history ends


def test_nothing_is_deleted_within_the_retention():
    outbox(["delivered"] * 5, high_water=5)

    assert outbox_delivered_prune(now=LATER - timedelta(days=2)) == 0
    assert seqs() == [1, 2, 3, 4, 5]


def test_pending_and_parked_events_stay_whatever_their_age():
    outbox(["delivered", "parked", "delivered", "pending", "delivered"], high_water=5)

    assert outbox_delivered_prune(now=LATER) == 2
    assert seqs() == [2, 4, 5]


def test_events_above_centrals_high_water_mark_stay_for_a_resend():
    outbox(["delivered"] * 5, high_water=2)

    assert outbox_delivered_prune(now=LATER) == 2
    assert seqs() == [3, 4, 5]


def test_a_second_run_deletes_nothing_more():
    outbox(["delivered"] * 5, high_water=5)
    outbox_delivered_prune(now=LATER)

    assert outbox_delivered_prune(now=LATER) == 0
    assert seqs() == [5]


def test_the_next_event_takes_the_next_seq_after_a_prune_and_the_floor_covers_what_went():
    outbox(["delivered"] * 5, high_water=5)
    outbox_delivered_prune(now=LATER)

    with transaction.atomic():
        event = outbox_event_append(type="stock.snapshot", payload={}, occurred_at=LATER)

    assert event.seq == 6
    assert SyncState.objects.get(pk=1).seq_floor == 4


def test_a_branch_that_never_heard_from_central_keeps_everything():
    outbox(["delivered"] * 3, high_water=0)

    assert outbox_delivered_prune(now=LATER) == 0
    assert seqs() == [1, 2, 3]
