"""A sale the till kept while its branch server was away, arriving later (``queued``): dated at the till's time,
charged at the price the till showed, never refused for stock, found by its provisional receipt's number."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from branches.models import OutboxEvent
from inventory.models import Sale
from inventory.tests.factories import product_make
from pricing.scale import label_make

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def queued_body(*lines, occurred_at=None, number="T1-3FA2-0001", sale_id=None) -> dict:
    return {
        "id": str(sale_id or uuid.uuid4()),
        "lines": list(lines),
        "queued": {
            "occurred_at": (occurred_at or timezone.now() - timedelta(minutes=20)).isoformat(),
            "provisional_number": number,
        },
    }


def sent(client, body):
    return client.post("/api/v1/sales", body, format="json")


def sale_event(sale_id: str) -> OutboxEvent:
    return next(event for event in OutboxEvent.objects.all() if event.payload.get("sale_id") == sale_id)


def test_a_queued_sale_is_dated_at_the_tills_time_and_keeps_its_provisional_number(shelf, cashier_client):
    at = timezone.now() - timedelta(hours=2)
    response = sent(cashier_client, queued_body({"sku": "LAC-LECHE-1L", "quantity": "1"}, occurred_at=at))

    assert response.status_code == 201, response.content
    sale = Sale.objects.get(pk=response.json()["id"])
    assert (sale.created_at, sale.provisional_number) == (at, "T1-3FA2-0001")
    event = sale_event(response.json()["id"])
    assert event.occurred_at == at
    assert event.payload["provisional_number"] == "T1-3FA2-0001"
    assert event.payload["number"] == sale.number


def test_a_queued_sale_is_charged_the_price_the_till_showed_and_its_event_names_the_servers(shelf, cashier_client):
    body = queued_body({"sku": "LAC-LECHE-1L", "quantity": "2", "unit_price": "1.10"})
    response = sent(cashier_client, body)

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "2.20"
    line = sale_event(body["id"]).payload["lines"][0]
    assert (line["unit_price"], line["box_unit_price"]) == ("1.10", "1.25")


def test_a_till_price_equal_to_the_servers_is_not_flagged(shelf, cashier_client):
    body = queued_body({"sku": "LAC-LECHE-1L", "quantity": "2", "unit_price": "1.25"})

    assert sent(cashier_client, body).status_code == 201
    assert "box_unit_price" not in sale_event(body["id"]).payload["lines"][0]


def test_a_scale_label_in_a_queued_sale_is_charged_at_the_tills_price(db, cashier_client):
    product_make(sku="FRU-BANANA", price="1.80", plu="102", name="Banana")
    body = queued_body({"barcode": label_make(plu="102", grams=1250), "unit_price": "1.60"})
    response = sent(cashier_client, body)

    assert response.status_code == 201, response.content
    (line,) = response.json()["lines"]
    assert (line["sku"], line["quantity"], line["unit_price"], line["line_total"]) == (
        "FRU-BANANA",
        "1.250",
        "1.60",
        "2.00",
    )
    assert sale_event(body["id"]).payload["lines"][0]["box_unit_price"] == "1.80"


def test_a_price_from_the_till_is_refused_outside_a_queued_sale(shelf, cashier_client):
    body = {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1", "unit_price": "0.01"}]}
    response = sent(cashier_client, body)

    assert response.status_code == 400
    assert "unit_price" in response.json()["fields"]["lines"]["0"]
    assert not Sale.objects.exists()


@pytest.mark.parametrize("moved", [timedelta(minutes=6), -timedelta(days=8)], ids=["ahead", "too-old"])
def test_a_queued_sale_dated_outside_the_window_around_the_servers_clock_is_refused(shelf, cashier_client, moved):
    body = queued_body({"sku": "LAC-LECHE-1L", "quantity": "1"}, occurred_at=timezone.now() + moved)
    response = sent(cashier_client, body)

    assert response.status_code == 400
    assert "occurred_at" in response.json()["fields"]["queued"]
    assert not Sale.objects.exists()


def test_a_queued_sale_beyond_the_stock_is_taken_and_flagged_oversold(shelf, cashier_client):
    response = sent(cashier_client, queued_body({"sku": "LAC-LECHE-1L", "quantity": "9"}))

    assert response.status_code == 201, response.content
    assert response.json()["oversold"] is True


def test_a_sale_whose_answer_was_lost_sent_again_as_queued_is_the_same_sale_and_gets_its_provisional_number(
    shelf, cashier_client
):
    first = sent(cashier_client, {"id": str(uuid.uuid4()), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]})
    again = sent(
        cashier_client,
        queued_body({"sku": "LAC-LECHE-1L", "quantity": "1", "unit_price": "1.25"}, sale_id=first.json()["id"]),
    )

    assert (first.status_code, again.status_code) == (201, 200), again.content
    assert again.json()["number"] == first.json()["number"]
    assert Sale.objects.count() == 1
    assert Sale.objects.get().provisional_number == "T1-3FA2-0001"
    assert OutboxEvent.objects.filter(type="sale.completed").count() == 1


def test_staff_find_a_sale_by_its_provisional_number_as_by_its_number(shelf, cashier, cashier_client):
    number = sent(cashier_client, queued_body({"sku": "LAC-LECHE-1L", "quantity": "1"})).json()["number"]
    page = Client()
    page.force_login(cashier)

    for typed in ("t1-3fa2-0001", str(number)):
        response = page.get("/sales/", {"number": typed})
        assert (response.status_code, response["Location"]) == (302, f"/sales/{number}/")
    detail = page.get(f"/sales/{number}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "T1-3FA2-0001" in detail.content.decode()


def test_a_queued_sale_gets_the_promotion_in_force_at_its_time_as_the_till_showed_it(shelf, cashier_client):
    from pricing.models import Promotion

    at = timezone.now() - timedelta(hours=1)
    promotion = Promotion.objects.create(
        name="Leche -10 %",
        kind="percent",
        percent="10.00",
        skus=["LAC-LECHE-1L"],
        starts_at=at - timedelta(hours=1),
        ends_at=at + timedelta(minutes=30),
    )
    body = queued_body({"sku": "LAC-LECHE-1L", "quantity": "2", "unit_price": "1.25"}, occurred_at=at)
    response = sent(cashier_client, body)

    assert response.status_code == 201, response.content
    (line,) = response.json()["lines"]
    assert (line["gross"], line["discount"], line["promotion_id"]) == ("2.50", "0.25", str(promotion.id))
    assert response.json()["total"] == "2.25"
