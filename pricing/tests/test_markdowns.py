"""Markdowns at the till: a line's or the whole sale's discount (percent or amount) with its reason, taken off after
the promotions; beyond MARKDOWN_APPROVAL_PERCENT a manager approves it (the cashier being one, or a manager's login
with the sale), else 409 ``approval_required``; recorded on the sale, in its answer and its event."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from branches import protocol
from branches.change_apply import change_apply
from branches.models import ChangeKind, OutboxEvent
from branches.protocol import EventType
from inventory.models import Sale
from inventory.replay import stock_event_replay
from inventory.serializers import sale_body

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

PASSWORD = "gerente-secreto-1"
NEAR_EXPIRY = {"percent": "30", "reason": "near expiry"}


@pytest.fixture
def login(manager):
    manager.set_password(PASSWORD)
    manager.save()
    return {"username": manager.username, "password": PASSWORD}


def _sell(client, lines, **body):
    return client.post("/api/v1/sales", {"lines": lines, **body}, format="json")


def _event() -> dict:
    return OutboxEvent.objects.get(type="sale.completed").payload


def test_a_line_markdown_rung_up_by_a_manager_is_recorded_on_the_sale_its_answer_and_event(shelf, manager_client):
    answer = _sell(manager_client, [{"sku": "LAC-LECHE-1L", "quantity": "2", "markdown": NEAR_EXPIRY}])

    assert answer.status_code == 201, answer.content
    body = answer.json()
    line = body["lines"][0]
    assert (line["gross"], line["discount"], line["markdown_discount"], line["line_total"]) == (
        "2.50",
        "0.75",
        "0.75",
        "1.75",
    )
    assert line["markdown"] == {"percent": "30.00", "reason": "near expiry"}
    assert (body["total"], body["saving"], body["markdown_approved_by"]) == ("1.75", "0.75", "mario")
    event = _event()
    assert event["markdown_approved_by"] == "mario"
    assert event["lines"][0] == {
        "sku": "LAC-LECHE-1L",
        "quantity": "2.000",
        "unit_price": "1.25",
        "line_total": "1.75",
        "gross": "2.50",
        "discount": "0.75",
        "markdown": {"percent": "30.00", "reason": "near expiry"},
        "markdown_discount": "0.75",
    }


def test_a_cashier_without_a_managers_login_is_refused_and_nothing_is_written(shelf, cashier_client):
    answer = _sell(cashier_client, [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": NEAR_EXPIRY}])

    assert (answer.status_code, answer.json()["code"]) == (409, "approval_required")
    assert not Sale.objects.exists()
    assert not OutboxEvent.objects.filter(type="sale.completed").exists()


def test_a_managers_login_with_the_sale_approves_it_and_a_wrong_one_does_not(shelf, cashier_client, login):
    lines = [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": {"amount": "0.40", "reason": "dented pack"}}]
    wrong = _sell(cashier_client, lines, approval={**login, "password": "nope"})
    approved = _sell(cashier_client, lines, approval=login)

    assert (wrong.status_code, wrong.json()["code"]) == (409, "approval_required")
    assert approved.status_code == 201
    assert (approved.json()["total"], approved.json()["markdown_approved_by"]) == ("0.85", "mario")
    assert approved.json()["cashier"] == "carla"


def test_a_cashiers_login_does_not_approve(shelf, cashier_client, cashier):
    cashier.set_password("cajera-secreta-1")
    cashier.save()
    approval = {"username": cashier.username, "password": "cajera-secreta-1"}

    answer = _sell(
        cashier_client, [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": NEAR_EXPIRY}], approval=approval
    )

    assert answer.json()["code"] == "approval_required"


@override_settings(MARKDOWN_APPROVAL_PERCENT="10")
def test_a_markdown_within_the_limit_needs_no_manager(shelf, cashier_client):
    small = _sell(
        cashier_client, [{"sku": "LAC-LECHE-1L", "quantity": "2", "markdown": {"percent": "10", "reason": "x"}}]
    )
    large = _sell(
        cashier_client, [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": {"amount": "0.13", "reason": "x"}}]
    )

    assert small.status_code == 201
    assert (small.json()["total"], small.json()["markdown_approved_by"]) == ("2.25", "")
    assert "markdown_approved_by" not in _event()
    assert large.json()["code"] == "approval_required"  # 0.13 of 1.25 is more than 10 %


def test_a_sale_markdown_is_shared_over_its_lines_after_the_promotion_and_returns_pay_back_what_was_paid(
    shelf, manager_client
):
    starts_at = timezone.now() - timedelta(hours=1)
    payload = protocol.promotion_change_payload(
        promotion_id=uuid.uuid4(),
        name="3x2",
        kind="multibuy",
        skus=["LAC-LECHE-1L"],
        starts_at=starts_at,
        ends_at=starts_at + timedelta(days=1),
        buy=3,
        pay=2,
    )
    change_apply({"id": 1, "kind": ChangeKind.PROMOTION, "payload": payload})
    lines = [{"sku": "LAC-LECHE-1L", "quantity": "3"}, {"sku": "FRU-BANANA", "quantity": "1.000"}]

    sale = _sell(manager_client, lines, markdown={"amount": "1.00", "reason": "loyal customer"}).json()

    milk, banana = sale["lines"]
    # 3x2 leaves 2.50 of the milk, bananas 1.80: the 1.00 off is shared 2.50 : 1.80.
    assert (milk["discount"], milk["markdown_discount"], milk["line_total"]) == ("1.83", "0.58", "1.92")
    assert (banana["discount"], banana["markdown_discount"], banana["line_total"]) == ("0.42", "0.42", "1.38")
    assert sale["total"] == "3.30" and sale["markdown"] == {"amount": "1.00", "reason": "loyal customer"}
    assert _event()["markdown"] == {"amount": "1.00", "reason": "loyal customer"}
    refunds = []
    for quantity in ("1", "2"):
        answer = manager_client.post(
            "/api/v1/returns",
            {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": quantity}]},
            format="json",
        )
        refunds.append(OutboxEvent.objects.filter(type="return.completed").order_by("seq").last().payload)
        assert answer.status_code == 201
    assert sum(Decimal(r["lines"][0]["line_total"]) for r in refunds) == Decimal("1.92")


def test_the_same_id_answers_the_same_sale_and_another_markdown_under_it_is_a_conflict(shelf, manager_client):
    sale_id = str(uuid.uuid4())
    lines = [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": NEAR_EXPIRY}]

    first = _sell(manager_client, lines, id=sale_id)
    again = _sell(manager_client, lines, id=sale_id)
    other = _sell(manager_client, [{**lines[0], "markdown": {"percent": "40", "reason": "near expiry"}}], id=sale_id)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["markdown_approved_by"] == "mario"
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    # A box restored from head office rebuilds the sale with the fingerprint the till's retry matches.
    assert protocol.payload_fingerprint(EventType.SALE_COMPLETED, _event()) == Sale.objects.get().fingerprint


@pytest.mark.parametrize(
    "markdown",
    [
        {"percent": "30", "amount": "1.00", "reason": "x"},
        {"reason": "x"},
        {"percent": "100.01", "reason": "x"},
        {"percent": "0", "reason": "x"},
        {"amount": "1.00"},
        {"amount": "1.00", "reason": ""},
    ],
)
def test_a_markdown_gives_a_percent_or_an_amount_and_a_reason(shelf, manager_client, markdown):
    answer = _sell(manager_client, [{"sku": "LAC-LECHE-1L", "quantity": "1", "markdown": markdown}])

    assert answer.status_code == 400


def test_a_scale_label_line_takes_no_markdown_of_its_own(shelf, manager_client):
    answer = _sell(manager_client, [{"barcode": "2000102012503", "markdown": NEAR_EXPIRY}])

    assert answer.status_code == 400


def test_a_box_restored_from_head_office_rebuilds_a_marked_down_sale_as_it_was_sold(shelf, manager_client):
    lines = [{"sku": "LAC-LECHE-1L", "quantity": "2", "markdown": NEAR_EXPIRY}, {"sku": "FRU-BANANA", "quantity": "1"}]
    sold = _sell(manager_client, lines, markdown={"amount": "0.50", "reason": "loyal customer"}).json()
    event = OutboxEvent.objects.get(type="sale.completed")
    # The same event as head office sends it back, under another sale's id and number (this one is still here).
    payload = {**event.payload, "sale_id": str(uuid.uuid4()), "number": sold["number"] + 1}

    stock_event_replay(
        seq=event.seq + 100, type=EventType.SALE_COMPLETED, occurred_at=event.occurred_at, payload=payload
    )

    rebuilt = sale_body(Sale.objects.get(pk=payload["sale_id"]))
    for key in ("total", "saving", "markdown", "markdown_approved_by", "lines"):
        assert rebuilt[key] == sold[key], key
