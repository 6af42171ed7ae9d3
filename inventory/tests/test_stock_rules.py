"""Stock rules that keep goods from being counted twice or in fractions they cannot come in: returns of unit-sold
goods are whole units, and a transfer is received once, with its own lines."""

import uuid
from datetime import UTC, datetime

import pytest

from branches.change_apply import change_apply as _change_apply
from branches.models import IncomingTransfer, OutboxEvent
from inventory.models import StockDocument, StockLevel

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def on_hand(sku: str) -> str:
    return str(StockLevel.objects.get(product_id=sku).on_hand)


def transfer_arrives(transfer_id: uuid.UUID, **quantities: str) -> None:
    """The transfer as the change feed brings it."""
    lines = [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]
    _change_apply(
        {
            "id": 1,
            "kind": "transfer",
            "payload": {"transfer_id": str(transfer_id), "lines": lines, "sent_at": datetime.now(UTC).isoformat()},
        }
    )


def receive(client, transfer_id, **quantities: str):
    lines = [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]
    return client.post("/api/v1/stock/receipts", {"transfer_id": str(transfer_id), "lines": lines}, format="json")


def test_a_return_of_a_fraction_of_a_unit_sold_product_is_refused(shelf, cashier_client):
    sale = cashier_client.post(
        "/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]}, format="json"
    ).json()

    response = cashier_client.post(
        "/api/v1/returns", {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "0.5"}]}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "fractional_quantity")
    assert on_hand("LAC-LECHE-1L") == "3.000"
    assert not OutboxEvent.objects.filter(type="return.completed").exists()


def test_a_transfer_received_twice_is_refused_and_counted_once(shelf, cashier_client):
    transfer = uuid.uuid4()
    transfer_arrives(transfer, LAC_LECHE_1L="6")

    first = receive(cashier_client, transfer, LAC_LECHE_1L="6")
    second = receive(cashier_client, transfer, LAC_LECHE_1L="6")

    assert first.status_code == 201
    assert (second.status_code, second.json()["code"]) == (409, "transfer_already_received")
    assert on_hand("LAC-LECHE-1L") == "11.000"
    assert StockDocument.objects.filter(transfer_id=transfer).count() == 1


def test_a_receipt_with_other_lines_than_its_transfer_is_refused(shelf, cashier_client):
    transfer = uuid.uuid4()
    transfer_arrives(transfer, LAC_LECHE_1L="6", FRU_BANANA="2.5")

    fewer = receive(cashier_client, transfer, LAC_LECHE_1L="6")
    more = receive(cashier_client, transfer, LAC_LECHE_1L="7", FRU_BANANA="2.5")

    assert (fewer.status_code, fewer.json()["code"]) == (409, "transfer_lines_mismatch")
    assert (more.status_code, more.json()["code"]) == (409, "transfer_lines_mismatch")
    assert receive(cashier_client, transfer, FRU_BANANA="2.500", LAC_LECHE_1L="6").status_code == 201
    assert IncomingTransfer.objects.get().state == "received"


def test_goods_received_before_their_transfer_arrived_are_not_received_again(shelf, cashier_client):
    transfer = uuid.uuid4()

    early = receive(cashier_client, transfer, LAC_LECHE_1L="6")
    again = receive(cashier_client, transfer, LAC_LECHE_1L="6")
    transfer_arrives(transfer, LAC_LECHE_1L="6")

    assert early.status_code == 201
    assert (again.status_code, again.json()["code"]) == (409, "transfer_already_received")
    assert IncomingTransfer.objects.get().state == "received"
    assert on_hand("LAC-LECHE-1L") == "11.000"
