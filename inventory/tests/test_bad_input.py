"""Bad input gets a 4xx with a JSON error body and writes nothing (docs/architecture.md, invariant 6)."""

import json
import uuid

import pytest
from django.test import override_settings

from branches.models import OutboxEvent
from inventory.models import Return, Sale, StockDocument, StockLevel, StockMovement

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def line(sku="FRU-BANANA", quantity="1"):
    return {"sku": sku, "quantity": quantity}


BAD_SALES = {
    "unknown SKU": ({"lines": [line(sku="NO-SUCH-SKU")]}, 400, "unknown_sku"),
    "zero quantity": ({"lines": [line(quantity="0")]}, 400, "invalid"),
    "negative quantity": ({"lines": [line(quantity="-1")]}, 400, "invalid"),
    "non-numeric quantity": ({"lines": [line(quantity="two")]}, 400, "invalid"),
    "boolean quantity": ({"lines": [line(quantity=True)]}, 400, "invalid"),
    "NaN quantity": ({"lines": [line(quantity="NaN")]}, 400, "invalid"),
    "infinite quantity": ({"lines": [line(quantity="Infinity")]}, 400, "invalid"),
    "over-precise quantity": ({"lines": [line(quantity="1.0001")]}, 400, "invalid"),
    "absurdly large quantity": ({"lines": [line(quantity="1e20")]}, 400, "invalid"),
    "fraction of a unit-sold product": (
        {"lines": [line(sku="LAC-LECHE-1L", quantity="1.5")]},
        400,
        "fractional_quantity",
    ),
    "empty lines": ({"lines": []}, 400, "invalid"),
    "no lines": ({}, 400, "invalid"),
    "lines not a list": ({"lines": "FRU-BANANA"}, 400, "invalid"),
    "same SKU twice": ({"lines": [line(), line(quantity="2")]}, 400, "invalid"),
    "non-UUID id": ({"id": "sale-1", "lines": [line()]}, 400, "invalid"),
    "unknown payment method": ({"lines": [line()], "payment_method": "bitcoin"}, 400, "invalid"),
    "body is a list": ([line()], 400, "invalid"),
}


def written() -> tuple:
    return tuple(
        model.objects.count() for model in (Sale, Return, StockDocument, StockMovement, StockLevel, OutboxEvent)
    ) + (tuple(StockLevel.objects.order_by("product_id").values_list("on_hand", flat=True)),)


@pytest.mark.parametrize("body, status, code", BAD_SALES.values(), ids=BAD_SALES.keys())
def test_bad_sale_gets_a_json_4xx_and_writes_nothing(shelf, cashier_client, body, status, code):
    before = written()

    response = cashier_client.post("/api/v1/sales", body, format="json")

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert written() == before


@pytest.mark.parametrize(
    "raw, content_type, status, code",
    [
        (b'{"lines": [{"sku": "FRU-BANANA", "quantity": "1"}', "application/json", 400, "malformed_json"),
        (b"\xff\xfe not utf-8", "application/json", 400, "malformed_json"),
        (b"lines=FRU-BANANA", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
    ids=["truncated JSON", "not UTF-8", "form body"],
)
def test_unparseable_body_gets_a_json_4xx_and_writes_nothing(shelf, cashier_client, raw, content_type, status, code):
    before = written()

    response = cashier_client.generic("POST", "/api/v1/sales", raw, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert written() == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_oversized_body_gets_413_and_writes_nothing(shelf, cashier_client):
    before = written()
    body = json.dumps({"lines": [line()], "note": "x" * 20_000})

    response = cashier_client.generic("POST", "/api/v1/sales", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert written() == before


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/returns", {"sale_id": "not-a-uuid", "lines": [line()]}),
        ("/api/v1/returns", {"sale_id": str(uuid.uuid4()), "lines": [line()]}),
        ("/api/v1/stock/receipts", {"lines": [line(quantity="-3")]}),
        ("/api/v1/stock/receipts", {"lines": [line(sku="NO-SUCH-SKU")]}),
        ("/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": "-1"}]}),
        (
            "/api/v1/stock/counts",
            {"lines": [{"sku": "FRU-BANANA", "counted": "1"}, {"sku": "FRU-BANANA", "counted": "2"}]},
        ),
        ("/venta", {"producto": "banana", "cantidad": "muchas"}),
        ("/venta", {"producto": "no existe", "cantidad": 1}),
        ("/venta", [{"producto": "banana", "cantidad": 1}]),
    ],
)
def test_bad_stock_documents_get_a_json_400_and_write_nothing(shelf, cashier_client, path, body):
    before = written()

    response = cashier_client.post(path, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"]
    assert written() == before


def test_a_line_that_fails_after_others_passed_leaves_nothing_behind(shelf, cashier_client):
    """The first line is fine and the second is short: the whole sale rolls back, no half-written sale."""
    before = written()

    response = cashier_client.post(
        "/api/v1/sales", {"lines": [line(quantity="1"), line(sku="LAC-LECHE-1L", quantity="99")]}, format="json"
    )

    assert response.status_code == 409
    assert written() == before
