import uuid
from decimal import Decimal

import pytest
from django.test import override_settings

from branches.models import OutboxEvent
from inventory.models import Sale, StockLevel

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def on_hand(sku: str) -> Decimal:
    return StockLevel.objects.get(product_id=sku).on_hand


def sell(client, *lines, sale_id=None, payment_method=None):
    body = {"lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines]}
    if sale_id:
        body["id"] = str(sale_id)
    if payment_method:
        body["payment_method"] = payment_method
    return client.post("/api/v1/sales", body, format="json")


def test_sale_is_created_priced_and_takes_stock(shelf, cashier_client):
    response = sell(cashier_client, ("FRU-BANANA", "1.250"), ("LAC-LECHE-1L", "2"), payment_method="card")

    assert response.status_code == 201, response.content
    sale = response.json()
    assert sale["number"] == 1
    assert sale["payment_method"] == "card"
    assert [(line["sku"], line["quantity"], line["unit_price"], line["line_total"]) for line in sale["lines"]] == [
        ("FRU-BANANA", "1.250", "1.80", "2.25"),
        ("LAC-LECHE-1L", "2.000", "1.25", "2.50"),
    ]
    assert sale["total"] == "4.75"
    assert sale["cashier"] == "carla"
    assert on_hand("FRU-BANANA") == Decimal("8.750")
    assert on_hand("LAC-LECHE-1L") == Decimal("3")


def test_sale_numbers_count_up_per_branch(shelf, cashier_client):
    numbers = [sell(cashier_client, ("FRU-BANANA", "0.5")).json()["number"] for _ in range(3)]

    assert numbers == [1, 2, 3]


def test_same_sale_id_again_returns_the_stored_sale_with_200(shelf, cashier_client):
    sale_id = uuid.uuid4()
    first = sell(cashier_client, ("FRU-BANANA", "1"), sale_id=sale_id)
    again = sell(cashier_client, ("FRU-BANANA", "1"), sale_id=sale_id)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Sale.objects.count() == 1
    assert on_hand("FRU-BANANA") == Decimal("9")


def test_same_sale_id_with_another_body_is_refused_not_merged(shelf, cashier_client):
    sale_id = uuid.uuid4()
    sell(cashier_client, ("FRU-BANANA", "1"), sale_id=sale_id)
    events = OutboxEvent.objects.count()

    response = sell(cashier_client, ("FRU-BANANA", "2"), sale_id=sale_id)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert Sale.objects.get().lines.get().quantity == Decimal("1")
    assert OutboxEvent.objects.count() == events
    assert on_hand("FRU-BANANA") == Decimal("9")


def test_selling_more_than_on_hand_is_refused_with_409(shelf, cashier_client):
    response = sell(cashier_client, ("LAC-LECHE-1L", "1"), ("FRU-BANANA", "10.001"))

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["sku"], body["available"]) == ("insufficient_stock", "FRU-BANANA", "10.000")
    assert Sale.objects.count() == 0
    assert on_hand("LAC-LECHE-1L") == Decimal("5")


def test_two_lines_of_one_sku_are_checked_together_against_on_hand(shelf, cashier):
    """Two bags of bananas (the API asks for one line per SKU; the service does not rely on it): 6 and 5 kg are
    each under the 10 kg on hand, together they are not."""
    from ecomarket.errors import DomainError
    from inventory.services import Line, sale_create

    bags = [Line(sku="FRU-BANANA", quantity=Decimal("6")), Line(sku="FRU-BANANA", quantity=Decimal("5"))]
    with pytest.raises(DomainError) as refused:
        sale_create(sale_id=None, lines=bags, payment_method="cash", cashier=cashier)

    assert refused.value.code == "insufficient_stock"
    assert on_hand("FRU-BANANA") == Decimal("10")


@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_branch_that_allows_negative_stock_accepts_and_flags_the_sale(shelf, cashier_client):
    response = sell(cashier_client, ("LAC-LECHE-1L", "7"))

    assert response.status_code == 201
    assert response.json()["oversold"] is True
    assert on_hand("LAC-LECHE-1L") == Decimal("-2")


def test_sale_can_be_read_back(shelf, cashier_client):
    sale = sell(cashier_client, ("FRU-BANANA", "1")).json()

    response = cashier_client.get(f"/api/v1/sales/{sale['id']}")

    assert response.status_code == 200
    assert response.json() == sale


def test_manager_voids_a_sale_and_its_stock_comes_back(shelf, cashier_client, manager_client):
    sale = sell(cashier_client, ("FRU-BANANA", "2")).json()

    response = manager_client.post(f"/api/v1/sales/{sale['id']}/void", {"reason": "wrong item"}, format="json")
    again = manager_client.post(f"/api/v1/sales/{sale['id']}/void", {"reason": "wrong item"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "voided"
    assert again.status_code == 200
    assert on_hand("FRU-BANANA") == Decimal("10")
    assert list(OutboxEvent.objects.values_list("type", flat=True)) == [
        "stock.received",
        "sale.completed",
        "sale.voided",
    ]


def test_cashier_may_not_void(shelf, cashier_client):
    sale = sell(cashier_client, ("FRU-BANANA", "2")).json()

    response = cashier_client.post(f"/api/v1/sales/{sale['id']}/void", {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_void_of_unknown_sale_is_404(shelf, manager_client):
    assert manager_client.post(f"/api/v1/sales/{uuid.uuid4()}/void", {}, format="json").status_code == 404
    assert manager_client.post("/api/v1/sales/not-a-uuid/void", {}, format="json").status_code == 404


def test_return_puts_goods_back_up_to_what_was_sold(shelf, cashier_client):
    sale = sell(cashier_client, ("LAC-LECHE-1L", "3")).json()
    body = {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}], "reason": "expired"}

    first = cashier_client.post("/api/v1/returns", body, format="json")
    too_many = cashier_client.post("/api/v1/returns", body, format="json")

    assert first.status_code == 201
    assert first.json()["lines"] == [{"sku": "LAC-LECHE-1L", "quantity": "2.000"}]
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "return_exceeds_sale"
    assert on_hand("LAC-LECHE-1L") == Decimal("4")


def test_return_with_same_id_is_idempotent(shelf, cashier_client):
    sale = sell(cashier_client, ("LAC-LECHE-1L", "3")).json()
    body = {"id": str(uuid.uuid4()), "sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}

    statuses = [cashier_client.post("/api/v1/returns", body, format="json").status_code for _ in range(2)]

    assert statuses == [201, 200]
    assert on_hand("LAC-LECHE-1L") == Decimal("3")


def test_voided_sale_takes_no_return(shelf, cashier_client, manager_client):
    sale = sell(cashier_client, ("LAC-LECHE-1L", "1")).json()
    manager_client.post(f"/api/v1/sales/{sale['id']}/void", {}, format="json")

    response = cashier_client.post(
        "/api/v1/returns", {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "sale_voided"


def test_receipt_adds_stock_and_is_idempotent(shelf, cashier_client):
    body = {"id": str(uuid.uuid4()), "lines": [{"sku": "FRU-BANANA", "quantity": "25.5"}]}

    statuses = [cashier_client.post("/api/v1/stock/receipts", body, format="json").status_code for _ in range(2)]

    assert statuses == [201, 200]
    assert on_hand("FRU-BANANA") == Decimal("35.500")


def test_count_sets_a_new_baseline_and_records_what_the_books_said(shelf, cashier_client):
    response = cashier_client.post(
        "/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": "9.400"}]}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["lines"] == [{"sku": "FRU-BANANA", "counted": "9.400", "previous": "10.000"}]
    assert on_hand("FRU-BANANA") == Decimal("9.400")


def test_stock_list_and_detail_show_on_hand(shelf, cashier_client):
    sell(cashier_client, ("FRU-BANANA", "0.75"))

    listing = cashier_client.get("/api/v1/stock").json()["results"]
    detail = cashier_client.get("/api/v1/stock/FRU-BANANA").json()
    search = cashier_client.get("/api/v1/stock", {"search": "7790742023001"}).json()["results"]

    assert [(row["sku"], row["on_hand"]) for row in listing] == [("FRU-BANANA", "9.250"), ("LAC-LECHE-1L", "5.000")]
    assert detail["on_hand"] == "9.250"
    assert [row["sku"] for row in search] == ["LAC-LECHE-1L"]
    assert cashier_client.get("/api/v1/stock/NOPE").status_code == 404


def test_seed_venta_sells_through_the_same_service_and_answers_like_the_prototype(shelf, cashier_client):
    response = cashier_client.post("/venta", {"producto": "banana", "cantidad": 2}, format="json")
    refused = cashier_client.post("/venta", {"producto": "LAC-LECHE-1L", "cantidad": 50}, format="json")
    inventory = cashier_client.get("/inventario")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "inventario": {"FRU-BANANA": 8, "LAC-LECHE-1L": 5}}
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Stock insuficiente"
    assert inventory.json() == {"FRU-BANANA": 8, "LAC-LECHE-1L": 5}
    assert Sale.objects.count() == 1


def test_the_fast_sale_answer_matches_its_documented_serializer(shelf, cashier_client, manager_client):
    from inventory.serializers import SaleOutputSerializer, sale_body

    sold = sell(cashier_client, ("FRU-BANANA", "1.25"), ("LAC-LECHE-1L", "2")).json()
    manager_client.post(f"/api/v1/sales/{sold['id']}/void", {"reason": "test"}, format="json")
    sale = Sale.objects.get()

    assert sale_body(sale) == SaleOutputSerializer(sale).data


def test_the_fast_stock_answer_matches_its_documented_serializer(shelf, cashier_client):
    from django.conf import settings

    from inventory import selectors
    from inventory.serializers import StockOutputSerializer, stock_body

    for sku in ("FRU-BANANA", "LAC-LECHE-1L"):
        product = selectors.product_stock_get(branch=settings.BRANCH_CODE, sku=sku)

        assert stock_body(product) == StockOutputSerializer(product).data
        assert cashier_client.get(f"/api/v1/stock/{sku}").json() == StockOutputSerializer(product).data
