"""A return pays back what the customer paid for the goods: the line's net price (after its promotion or
discount), rounded on the running share so a line returned in parts pays back exactly what it cost."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from branches import protocol
from branches.change_apply import change_apply
from branches.models import ChangeKind, OutboxEvent
from cash.models import Refund
from inventory.services import return_line_refund

pytestmark = pytest.mark.mode("branch")

D = Decimal


def _three_for_two(sku: str) -> None:
    starts_at = timezone.now() - timedelta(hours=1)
    payload = protocol.promotion_change_payload(
        promotion_id=uuid.uuid4(),
        name="3x2",
        kind="multibuy",
        skus=[sku],
        starts_at=starts_at,
        ends_at=starts_at + timedelta(days=7),
        buy=3,
        pay=2,
    )
    change_apply({"id": 1, "kind": ChangeKind.PROMOTION, "payload": payload})


def _sell(client, quantity: str) -> dict:
    answer = client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": quantity}]}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def _return(client, sale: dict, quantity: str):
    return client.post(
        "/api/v1/returns",
        {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": quantity}]},
        format="json",
    )


def _paid_back(return_id: str) -> Decimal:
    return sum((D(item["amount"]) for item in Refund.objects.get(pk=return_id).payments), D("0"))


@pytest.mark.parametrize(
    ("sold", "line_total", "parts", "refunds"),
    [
        (D("3"), D("2.50"), [D("1"), D("2")], [D("0.83"), D("1.67")]),
        (D("3"), D("2.50"), [D("1"), D("1"), D("1")], [D("0.83"), D("0.84"), D("0.83")]),
        (D("3"), D("1.00"), [D("1"), D("1"), D("1")], [D("0.33"), D("0.34"), D("0.33")]),
        (D("4"), D("5.00"), [D("4")], [D("5.00")]),
        (D("1.250"), D("2.25"), [D("0.500"), D("0.750")], [D("0.90"), D("1.35")]),
        (D("2"), D("0.00"), [D("1")], [D("0.00")]),
    ],
)
def test_a_line_returned_in_parts_pays_back_its_share_and_in_all_exactly_what_it_cost(sold, line_total, parts, refunds):
    before, paid = D("0"), []
    for quantity in parts:
        paid.append(return_line_refund(sold=sold, line_total=line_total, returned_before=before, quantity=quantity))
        before += quantity

    assert paid == refunds
    if before == sold:
        assert sum(paid) == line_total


def test_returning_one_unit_of_a_three_for_two_line_pays_back_its_share_of_what_was_paid(shelf, cashier_client):
    _three_for_two("LAC-LECHE-1L")
    sale = _sell(cashier_client, "3")
    assert sale["total"] == "2.50"

    answer = _return(cashier_client, sale, "1")

    assert answer.status_code == 201
    assert _paid_back(answer.json()["id"]) == D("0.83")  # not the unit price, 1.25
    event = OutboxEvent.objects.get(type="return.completed").payload
    assert event["lines"] == [{"sku": "LAC-LECHE-1L", "quantity": "1.000", "line_total": "0.83"}]
    assert event["refunds"] == [{"method": "cash", "amount": "0.83"}]


def test_a_three_for_two_line_returned_in_two_parts_pays_back_exactly_what_was_paid(shelf, cashier_client):
    _three_for_two("LAC-LECHE-1L")
    sale = _sell(cashier_client, "3")

    first = _return(cashier_client, sale, "1").json()
    second = _return(cashier_client, sale, "2").json()

    assert _paid_back(first["id"]) + _paid_back(second["id"]) == D(sale["total"]) == D("2.50")


def test_a_line_without_a_discount_pays_back_the_unit_price(shelf, cashier_client):
    sale = _sell(cashier_client, "2")

    answer = _return(cashier_client, sale, "1")

    assert _paid_back(answer.json()["id"]) == D("1.25")
