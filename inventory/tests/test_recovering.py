"""While a restored branch has not replayed its history from central, nothing is written on top of a half-restored
box that depends on that history (docs/protocol.md, "Seqs are never reused"): counts, returns, voids and receipts
are refused with 409 ``recovering`` and the staff page says so; sales go on."""

import uuid

import pytest
from django.test import Client

from branches.models import OutboxEvent, RecoveryState, SyncState
from inventory.models import StockDocument
from inventory.tests.test_sales_api import on_hand, sell

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def recovery_set(state: str) -> None:
    SyncState.objects.update_or_create(pk=1, defaults={"recovery_state": state})


@pytest.mark.parametrize("state", [RecoveryState.CHECK, RecoveryState.RECOVERING])
def test_a_count_while_the_history_is_being_recovered_is_refused_and_sets_no_baseline(state, shelf, cashier_client):
    recovery_set(state)
    events = OutboxEvent.objects.count()

    response = cashier_client.post(
        "/api/v1/stock/counts", {"lines": [{"sku": "LAC-LECHE-1L", "counted": "2"}]}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (409, "recovering")
    assert on_hand("LAC-LECHE-1L") == 5
    assert OutboxEvent.objects.count() == events and not StockDocument.objects.filter(kind="count").exists()


def test_sales_go_on_while_the_history_is_being_recovered(shelf, cashier_client):
    recovery_set(RecoveryState.RECOVERING)

    response = sell(cashier_client, ("LAC-LECHE-1L", "2"))

    assert response.status_code == 201
    assert on_hand("LAC-LECHE-1L") == 3


def test_returns_voids_and_receipts_wait_for_the_recovery_too(shelf, cashier_client, manager_client):
    sale = sell(cashier_client, ("LAC-LECHE-1L", "2")).json()
    recovery_set(RecoveryState.RECOVERING)

    answers = [
        cashier_client.post(
            "/api/v1/returns",
            {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]},
            format="json",
        ),
        manager_client.post(f"/api/v1/sales/{sale['id']}/void", {"reason": "mistake"}, format="json"),
        cashier_client.post(
            "/api/v1/stock/receipts", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "6"}]}, format="json"
        ),
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [(409, "recovering")] * 3
    assert on_hand("LAC-LECHE-1L") == 3


def test_a_count_is_taken_again_once_the_recovery_is_done(shelf, cashier_client):
    recovery_set(RecoveryState.RECOVERING)
    count = {"id": str(uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "counted": "2"}]}
    assert cashier_client.post("/api/v1/stock/counts", count, format="json").status_code == 409
    recovery_set(RecoveryState.IDLE)

    response = cashier_client.post("/api/v1/stock/counts", count, format="json")

    assert response.status_code == 201
    assert on_hand("LAC-LECHE-1L") == 2


def test_the_count_page_says_the_store_is_recovering_its_history(shelf, cashier):
    recovery_set(RecoveryState.RECOVERING)
    page = Client()
    page.force_login(cashier)
    page.cookies["django_language"] = "en"

    response = page.post(
        "/stock/count/", {"id": str(uuid.uuid4()), "sku": ["LAC-LECHE-1L"], "counted": ["2"]}, follow=True
    )

    shown = " ".join(str(message) for message in response.context["messages"])
    assert "recovering its history" in shown, shown
    assert on_hand("LAC-LECHE-1L") == 5
