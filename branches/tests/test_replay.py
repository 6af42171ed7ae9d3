"""A restored box replays central's events on top of what it already holds (branches/recovery.py, inventory/replay.py):
a document it holds already (a till's retry, a form submitted again, before the box knew it was restored) is
recognised and counted once, and an event it cannot apply is recorded and shown while the rest flows. Central's
side of the same rule (a second event for a stored document is a conflict) is in test_ingest.py."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from branches.models import OutboxEvent, OutboxState, RecoveryState, ReplayFailure, SyncState
from branches.protocol import SCHEMA_VERSION, EventType
from branches.recovery import _chunk_replay
from branches.sync_status import sync_status
from inventory.models import Return, Sale, StockDocument, StockLevel, StockMovement
from inventory.services import Line, return_create, sale_create, stock_count_record, stock_receipt_record

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def on_hand(sku: str) -> Decimal:
    return StockLevel.objects.get(product_id=sku).on_hand


def central_event(seq: int, type_: str, payload: dict) -> dict:
    """One of this branch's events as central serves it back."""
    return {
        "id": str(uuid.uuid4()),
        "branch": "B001",
        "seq": seq,
        "type": type_,
        "occurred_at": datetime(2026, 11, 28, 12, 0, seq % 60, tzinfo=UTC).isoformat(),
        "schema": SCHEMA_VERSION,
        "payload": payload,
    }


def central_sale(seq: int, sale_id: uuid.UUID, number: int, quantity: str = "3") -> dict:
    return central_event(
        seq,
        EventType.SALE_COMPLETED,
        {
            "sale_id": str(sale_id),
            "number": number,
            "lines": [{"sku": "LAC-LECHE-1L", "quantity": quantity, "unit_price": "1.25"}],
            "total": f"{Decimal(quantity) * Decimal('1.25'):.2f}",
            "payment_method": "cash",
            "cashier": "",
        },
    )


def restored(*, central_max_seq: int, central_last_number: int) -> None:
    """The box went back in time: central holds this branch's events up to ``central_max_seq``; the floors are set,
    the replay has not run yet."""
    SyncState.objects.update_or_create(
        pk=1,
        defaults={
            "recovery_state": RecoveryState.RECOVERING,
            "seq_floor": central_max_seq,
            "sale_number_floor": central_last_number,
            "recovery_target_seq": central_max_seq,
        },
    )


def local_event_of(document_key: str, document: uuid.UUID) -> OutboxEvent:
    return OutboxEvent.objects.get(**{f"payload__{document_key}": str(document)}, seq__gt=3)


def test_a_sale_the_till_retried_before_the_replay_is_counted_once_with_centrals_number(shelf):
    sale_id = uuid.uuid4()
    restored(central_max_seq=3, central_last_number=1)
    retried, created = sale_create(
        sale_id=sale_id, lines=[Line("LAC-LECHE-1L", Decimal("3"))], payment_method="cash", cashier=None
    )
    assert created and retried.sale.number == 2  # the box could not know: a new sale, above the floor
    other = uuid.uuid4()

    _chunk_replay([central_sale(2, other, 1, quantity="1"), central_sale(3, sale_id, 2)])

    assert on_hand("LAC-LECHE-1L") == Decimal("1"), "5 on the shelf, 1 + 3 sold: the retried sale counted once"
    assert Sale.objects.get(pk=sale_id).number == 2
    duplicate = local_event_of("sale_id", sale_id)
    assert duplicate.state == OutboxState.PENDING, "central refuses it as a duplicate document; the push parks it"
    assert not StockMovement.objects.filter(seq=duplicate.seq).exists()
    assert "central holds" in duplicate.last_error
    assert SyncState.objects.get().sale_number_floor >= retried.sale.number, "the number the till showed is spent"
    again, created = sale_create(
        sale_id=sale_id, lines=[Line("LAC-LECHE-1L", Decimal("3"))], payment_method="cash", cashier=None
    )
    assert not created and again.sale.number == 2, "a retry after the replay gets the sale central holds"


def test_a_retried_sale_that_took_another_number_takes_centrals_and_its_own_stays_spent(shelf):
    sale_id = uuid.uuid4()
    restored(central_max_seq=3, central_last_number=2)
    retried, _ = sale_create(
        sale_id=sale_id, lines=[Line("LAC-LECHE-1L", Decimal("3"))], payment_method="cash", cashier=None
    )
    assert retried.sale.number == 3

    _chunk_replay([central_sale(2, uuid.uuid4(), 1, quantity="1"), central_sale(3, sale_id, 2)])
    (after,) = [
        sale_create(sale_id=uuid.uuid4(), lines=[Line("FRU-BANANA", Decimal("1"))], payment_method="cash", cashier=None)
    ]

    assert Sale.objects.get(pk=sale_id).number == 2
    assert after[0].sale.number == 4, "never the 3 the till printed for the retry"


def test_a_count_submitted_again_before_the_box_knew_it_was_restored_does_not_stop_the_replay(shelf):
    count_id = uuid.uuid4()
    # The form submitted again in the moment before the box noticed it had gone back in time (nothing told it yet).
    SyncState.objects.update_or_create(pk=1, defaults={"seq_floor": 0})
    stock_count_record(count_id=count_id, lines=[Line("LAC-LECHE-1L", Decimal("4"))], user=None)
    restored(central_max_seq=3, central_last_number=0)
    counted_at_central = central_event(
        3,
        EventType.STOCK_COUNTED,
        {"count_id": str(count_id), "lines": [{"sku": "LAC-LECHE-1L", "counted": "4", "previous": "2"}]},
    )
    sold = central_sale(2, uuid.uuid4(), 1, quantity="3")

    _chunk_replay([sold, counted_at_central])

    assert on_hand("LAC-LECHE-1L") == Decimal("4"), "what the count found, once, whatever the box said before"
    assert StockDocument.objects.filter(pk=count_id).count() == 1
    assert not ReplayFailure.objects.exists()
    assert OutboxEvent.objects.filter(id=counted_at_central["id"], state=OutboxState.DELIVERED).exists()


def test_a_return_submitted_again_before_the_replay_is_counted_once(shelf):
    sale_id, return_id = uuid.uuid4(), uuid.uuid4()
    sale_create(sale_id=sale_id, lines=[Line("LAC-LECHE-1L", Decimal("3"))], payment_method="cash", cashier=None)
    return_create(
        return_id=return_id, sale_id=sale_id, lines=[Line("LAC-LECHE-1L", Decimal("1"))], reason="", cashier=None
    )
    seq = OutboxEvent.objects.get(type=EventType.RETURN_COMPLETED).seq
    restored(central_max_seq=seq + 1, central_last_number=1)
    returned_at_central = central_event(
        seq + 1,
        EventType.RETURN_COMPLETED,
        {"return_id": str(return_id), "sale_id": str(sale_id), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]},
    )
    OutboxEvent.objects.filter(type=EventType.RETURN_COMPLETED).update(seq=seq + 5)  # above the floor
    StockMovement.objects.filter(seq=seq).update(seq=seq + 5)

    _chunk_replay([returned_at_central])

    assert on_hand("LAC-LECHE-1L") == Decimal("3")
    assert Return.objects.filter(pk=return_id).count() == 1
    assert not ReplayFailure.objects.exists()


def test_a_receipt_submitted_again_before_the_replay_is_counted_once(shelf):
    receipt_id = uuid.uuid4()
    stock_receipt_record(receipt_id=receipt_id, transfer_id=None, lines=[Line("FRU-BANANA", Decimal("2"))], user=None)
    restored(central_max_seq=3, central_last_number=0)
    received_at_central = central_event(
        3,
        EventType.STOCK_RECEIVED,
        {"transfer_id": None, "receipt_id": str(receipt_id), "lines": [{"sku": "FRU-BANANA", "quantity": "2"}]},
    )

    _chunk_replay([received_at_central])

    assert on_hand("FRU-BANANA") == Decimal("12.000")
    assert StockDocument.objects.filter(pk=receipt_id).count() == 1


def test_an_event_the_box_cannot_apply_is_recorded_and_shown_and_the_rest_flows(shelf):
    restored(central_max_seq=4, central_last_number=2)
    unknown = central_event(
        2, EventType.STOCK_RECEIVED, {"transfer_id": None, "lines": [{"sku": "GONE-SKU", "quantity": "2"}]}
    )
    broken = central_event(3, EventType.RETURN_COMPLETED, {"return_id": "not-a-uuid", "lines": "?"})
    sold = central_sale(4, uuid.uuid4(), 2, quantity="1")

    _chunk_replay([unknown, broken, sold])
    _chunk_replay([unknown, broken, sold])  # a worker killed after the commit replays the page again: no raise

    assert on_hand("LAC-LECHE-1L") == Decimal("4")
    failures = {failure.seq: failure.code for failure in ReplayFailure.objects.all()}
    assert failures == {2: "unknown_sku", 3: "not_applied"}
    assert OutboxEvent.objects.filter(seq__in=[2, 3, 4], state=OutboxState.DELIVERED).count() == 3
    assert sync_status()["replay_failures"] == 2
    assert SyncState.objects.get().recovery_done_seq == 4
