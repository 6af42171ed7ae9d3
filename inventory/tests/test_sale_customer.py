"""The customer of an oversold sale: the till may send a contact; it travels to head office only with
a sale that goes below zero, and is never kept for any other sale."""

import uuid

import pytest
from django.test import override_settings

from branches.models import OutboxEvent
from inventory.models import Sale

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

CONTACT = {"name": "Ana Pérez", "phone": "+54 11 5555-0101", "email": "ana@example.com"}


def sell(client, quantity: str, customer=None, sale_id=None):
    body = {"id": str(sale_id or uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "quantity": quantity}]}
    if customer is not None:
        body["customer"] = customer
    return client.post("/api/v1/sales", body, format="json")


def event_of(sale_id: str) -> dict:
    return OutboxEvent.objects.get(type="sale.completed", payload__sale_id=sale_id).payload


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_an_oversold_sale_carries_its_customer_contact_in_the_sale_event(shelf, cashier_client):
    response = sell(cashier_client, "7", customer=CONTACT)

    assert response.status_code == 201, response.content
    assert response.json()["oversold"] is True
    assert event_of(response.json()["id"])["customer"] == CONTACT
    assert "customer" not in response.json()  # the till's answer does not echo it


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_a_sale_within_stock_never_keeps_a_contact(shelf, cashier_client):
    response = sell(cashier_client, "2", customer=CONTACT)

    assert response.status_code == 201, response.content
    assert response.json()["oversold"] is False
    assert "customer" not in event_of(response.json()["id"])
    assert "Ana" not in str(list(OutboxEvent.objects.values_list("payload", flat=True)))


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_a_contact_needs_a_phone_or_an_email_and_bad_ones_are_refused_whole(shelf, cashier_client):
    for customer, field in (
        ({"name": "Ana"}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ("Ana", "non_field_errors"),
    ):
        response = sell(cashier_client, "7", customer=customer)
        assert response.status_code == 400, (customer, response.content)
        body = response.json()
        assert body["code"] and field in body["fields"]["customer"], body
    assert not OutboxEvent.objects.filter(type="sale.completed").exists()


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_a_retry_is_the_same_sale_and_keeps_the_first_contact_and_no_trace_of_it_is_hashed(shelf, cashier_client):
    sale_id = uuid.uuid4()
    assert sell(cashier_client, "7", customer=CONTACT, sale_id=sale_id).status_code == 201
    assert sell(cashier_client, "7", customer=CONTACT, sale_id=sale_id).status_code == 200
    assert sell(cashier_client, "7", customer={"phone": "12345"}, sale_id=sale_id).status_code == 200
    # With a contact or without, the same sale: the contact is no part of the request's identity, so a till that
    # retries on a box rebuilt from central (whose event may have lost the contact) gets its sale back.
    assert sell(cashier_client, "7", sale_id=sale_id).status_code == 200
    assert OutboxEvent.objects.filter(type="sale.completed").count() == 1
    assert event_of(str(sale_id))["customer"] == CONTACT

    # The sale's fingerprint (kept for ever) is a sale's without a contact: nothing of this one is in it.
    other_id = uuid.uuid4()
    sell(cashier_client, "7", sale_id=other_id)
    fingerprints = dict(Sale.objects.values_list("id", "fingerprint"))
    assert fingerprints[sale_id] == fingerprints[other_id]


def test_without_the_policy_an_oversell_is_still_refused_contact_or_not(shelf, cashier_client):
    response = sell(cashier_client, "7", customer=CONTACT)

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True, CUSTOMER_CONTACT_RETENTION_DAYS=30)
def test_the_store_erases_a_contact_30_days_after_head_office_received_it(shelf, cashier_client):
    from datetime import timedelta

    from django.utils import timezone

    from branches.models import OutboxState
    from branches.outbox import outbox_customer_contacts_erase

    delivered, pending = (sell(cashier_client, "7", customer=CONTACT).json()["id"] for _ in range(2))
    now = timezone.now()
    OutboxEvent.objects.filter(payload__sale_id=delivered).update(state=OutboxState.DELIVERED, delivered_at=now)

    assert outbox_customer_contacts_erase(now=now + timedelta(days=29)) == 0
    assert outbox_customer_contacts_erase(now=now + timedelta(days=30, seconds=1)) == 1
    assert "customer" not in event_of(delivered)
    assert event_of(pending)["customer"] == CONTACT  # not yet at head office: still needed
    assert outbox_customer_contacts_erase(now=now + timedelta(days=60)) == 0


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True, CUSTOMER_CONTACT_RETENTION_DAYS=30)
def test_the_store_erases_a_parked_or_replayed_events_contact_30_days_after_the_sale(shelf, cashier_client):
    """A parked event is out of the queue (central rejected it); an event replayed from central after a restore was
    delivered again today: neither restarts the clock, which is the sale's own."""
    from datetime import timedelta

    from django.utils import timezone

    from branches.models import OutboxState
    from branches.outbox import outbox_customer_contacts_erase

    parked, replayed = (sell(cashier_client, "7", customer=CONTACT).json()["id"] for _ in range(2))
    sold = timezone.now()
    later = sold + timedelta(days=20)
    OutboxEvent.objects.filter(payload__sale_id=parked).update(state=OutboxState.PARKED, last_attempt_at=later)
    OutboxEvent.objects.filter(payload__sale_id=replayed).update(state=OutboxState.DELIVERED, delivered_at=later)

    assert outbox_customer_contacts_erase(now=sold + timedelta(days=29)) == 0
    assert outbox_customer_contacts_erase(now=sold + timedelta(days=30, seconds=1)) == 2
    assert "customer" not in event_of(parked) and "customer" not in event_of(replayed)
