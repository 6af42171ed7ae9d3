"""Quantities arrive in one strict format at every door of a branch: the POS API (its fast path and its
serializer), the stock documents' API and the staff pages, all judged with the one table of cases."""

import uuid
from decimal import Decimal

import pytest

from ecomarket.quantities import NumberFormatError, money_parse, quantity_parse
from inventory.apis.branch import sale_input_plain
from inventory.tests.number_cases import BAD_QUANTITIES, BAD_TYPED, GOOD_QUANTITIES
from inventory.tests.test_bad_input import written
from inventory.tests.test_pages import messages_of, page_client
from inventory.tests.test_sales_api import on_hand

pytestmark = pytest.mark.mode("branch")

bad = pytest.mark.parametrize("text", BAD_QUANTITIES.values(), ids=BAD_QUANTITIES.keys())
bad_typed = pytest.mark.parametrize("text", BAD_TYPED.values(), ids=BAD_TYPED.keys())


@bad
def test_a_quantity_outside_the_format_is_refused(text):
    with pytest.raises(NumberFormatError):
        quantity_parse(text)


@pytest.mark.parametrize(("text", "reads"), GOOD_QUANTITIES.items())
def test_a_plain_decimal_reads_on_the_ledgers_scale(text, reads):
    assert str(quantity_parse(text)) == reads


def test_minus_zero_reads_as_zero():
    assert (str(quantity_parse("-0")), str(money_parse("-0"))) == ("0.000", "0.00")


@bad
def test_the_tills_fast_path_leaves_it_to_the_serializer(text):
    assert sale_input_plain({"lines": [{"sku": "FRU-BANANA", "quantity": text}]}) is None


@bad
@pytest.mark.django_db
def test_the_sale_api_refuses_it_and_writes_nothing(shelf, cashier_client, text):
    before = written()

    response = cashier_client.post("/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": text}]}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert list(response.json()["fields"]["lines"][0]) == ["quantity"]
    assert written() == before


@bad
@pytest.mark.django_db
def test_the_count_api_refuses_it_and_writes_nothing(shelf, cashier_client, text):
    before = written()

    response = cashier_client.post(
        "/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": text}]}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert written() == before


@pytest.mark.django_db
def test_the_seed_sale_still_takes_the_prototypes_json_integer(shelf, cashier_client):
    response = cashier_client.post("/venta", {"producto": "FRU-BANANA", "cantidad": 2}, format="json")

    assert response.status_code == 200
    assert response.json()["inventario"]["FRU-BANANA"] == 8


@pytest.mark.parametrize("cantidad", [1.5, "1_0", "1E+2", True], ids=["float", "underscore", "exponent", "true"])
@pytest.mark.django_db
def test_the_seed_sale_refuses_anything_else(shelf, cashier_client, cantidad):
    before = written()

    response = cashier_client.post("/venta", {"producto": "FRU-BANANA", "cantidad": cantidad}, format="json")

    assert response.status_code == 400
    assert written() == before


@pytest.mark.parametrize(("page", "field"), [("/stock/count/", "counted"), ("/stock/receive/", "quantity")])
@bad_typed
@pytest.mark.django_db
def test_the_count_and_receive_pages_refuse_it_and_write_nothing(shelf, cashier, page, field, text):
    before = written()

    response = page_client(cashier).post(page, {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA"], field: [text]})

    assert response.status_code == 200 and messages_of(response)
    assert written() == before


@bad_typed
@pytest.mark.django_db
def test_the_return_page_refuses_it_and_writes_nothing(shelf, cashier, cashier_client, text):
    sold = cashier_client.post("/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "5"}]}, format="json")
    before = written()

    response = page_client(cashier).post(
        f"/sales/{sold.json()['number']}/return", {"id": str(uuid.uuid4()), "return-FRU-BANANA": text}, follow=True
    )

    assert messages_of(response)
    assert written() == before


@pytest.mark.django_db
def test_a_page_reads_the_decimal_comma_of_spanish_and_nothing_more(shelf, cashier):
    client = page_client(cashier)

    client.post("/stock/count/", {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA"], "counted": ["2,5"]})
    refused = client.post("/stock/count/", {"id": str(uuid.uuid4()), "sku": ["FRU-BANANA"], "counted": ["1.234,5"]})

    assert messages_of(refused)
    assert on_hand("FRU-BANANA") == Decimal("2.500")
