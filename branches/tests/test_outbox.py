"""Each branch write commits its ledger rows, its projection and exactly one outbox event with the next seq."""

import threading
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum

from branches.models import OutboxEvent, OutboxState
from branches.outbox import PUSH_TASK, outbox_event_append, outbox_event_envelope
from ecomarket.celery import app
from inventory.models import StockLevel, StockMovement

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def post(client, path, body):
    response = client.post(path, body, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def every_write(cashier_client, manager_client):
    sale = post(cashier_client, "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1.5"}]})
    post(
        cashier_client, "/api/v1/returns", {"sale_id": sale["id"], "lines": [{"sku": "FRU-BANANA", "quantity": "0.5"}]}
    )
    other = post(cashier_client, "/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]})
    post(manager_client, f"/api/v1/sales/{other['id']}/void", {"reason": "customer left"})
    post(cashier_client, "/api/v1/stock/receipts", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "12"}]})
    post(cashier_client, "/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": "8.7"}]})
    return sale


def test_every_write_appends_one_event_with_gapless_seq(shelf, cashier_client, manager_client):
    every_write(cashier_client, manager_client)

    events = list(OutboxEvent.objects.order_by("seq"))
    assert [event.seq for event in events] == list(range(1, 9))
    assert [event.type for event in events] == [
        "stock.received",  # the shelf fixture
        "sale.completed",
        "return.completed",
        "sale.completed",
        "sale.voided",
        "stock.received",
        "stock.counted",
        "stock.snapshot",  # a count is followed by a snapshot, in its own transaction
    ]
    assert {event.state for event in events} == {OutboxState.PENDING}


def test_ledger_rows_carry_their_events_seq_and_the_projection_matches_the_ledger(
    shelf, cashier_client, manager_client
):
    every_write(cashier_client, manager_client)

    assert set(StockMovement.objects.values_list("seq", flat=True)) <= set(
        OutboxEvent.objects.values_list("seq", flat=True)
    )
    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(branch=level.branch, product=level.product).aggregate(s=Sum("quantity"))
        assert level.on_hand == ledger["s"]
    assert StockLevel.objects.get(product_id="FRU-BANANA").on_hand == Decimal("8.700")


def test_sale_event_payload_follows_the_contract(shelf, cashier_client):
    sale = post(cashier_client, "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1.25"}]})

    envelope = outbox_event_envelope(event=OutboxEvent.objects.get(type="sale.completed"), branch="B001")

    assert set(envelope) == {"id", "branch", "seq", "type", "occurred_at", "schema", "payload"}
    assert (envelope["branch"], envelope["seq"], envelope["schema"]) == ("B001", 2, 1)
    assert envelope["payload"] == {
        "sale_id": sale["id"],
        "number": 1,
        "lines": [{"sku": "FRU-BANANA", "quantity": "1.250", "unit_price": "1.80"}],
        "total": "2.25",
        "payment_method": "cash",
        "cashier": "carla",
    }


def test_count_event_names_counted_and_previous(shelf, cashier_client):
    post(cashier_client, "/api/v1/stock/counts", {"lines": [{"sku": "LAC-LECHE-1L", "counted": "4"}]})

    payload = OutboxEvent.objects.get(type="stock.counted").payload

    assert payload["lines"] == [{"sku": "LAC-LECHE-1L", "counted": "4.000", "previous": "5.000"}]


def test_a_rolled_back_write_takes_its_seq_with_it(shelf, cashier_client):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_event_append(type="stock.adjusted", payload={}, occurred_at=OutboxEvent.objects.get().occurred_at)
        raise RuntimeError("the change failed after the event was appended")

    post(cashier_client, "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1"}]})

    assert list(OutboxEvent.objects.values_list("seq", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_outbox_append_outside_a_transaction_is_refused(shelf):
    with pytest.raises(RuntimeError):
        outbox_event_append(type="stock.adjusted", payload={}, occurred_at=OutboxEvent.objects.get().occurred_at)


def test_the_push_is_published_by_the_registered_name_of_its_task():
    from branches.tasks import outbox_push_task

    assert outbox_push_task.name == PUSH_TASK == "branches.tasks.outbox_push_task"


def test_a_committed_write_publishes_one_push_by_task_name(shelf, monkeypatch, django_capture_on_commit_callbacks):
    sent, published = [], threading.Event()

    def send_task(name, **options):
        sent.append((name, options))
        published.set()

    monkeypatch.setattr(app, "send_task", send_task)  # the app the publisher finds as celery.current_app
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_event_append(type="stock.adjusted", payload={}, occurred_at=OutboxEvent.objects.get().occurred_at)

    assert published.wait(timeout=10)
    assert sent[0] == (PUSH_TASK, {"retry": False, "expires": 60})
