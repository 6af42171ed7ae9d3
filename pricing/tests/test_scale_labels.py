"""Scale labels as sale lines: the label formats and their check digit, and one table of label lines that the
till's fast path, the serializer and the sale all judge the same way."""

from decimal import Decimal

import pytest
from django.test import override_settings

from branches.models import OutboxEvent
from ecomarket.errors import DomainError
from inventory.apis.branch import SaleCreateApi, sale_input_plain
from inventory.models import Unit
from inventory.tests.factories import product_make, stock_receive
from pricing.scale import ean13_check_digit, label_make, label_read

pytestmark = pytest.mark.mode("branch")

BANANAS_1250 = label_make(plu="102", grams=1250)  # 2000102012503
WRONG_CHECK = BANANAS_1250[:-1] + str((int(BANANAS_1250[-1]) + 1) % 10)


@pytest.fixture
def scale_shelf(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="1.80", plu="102", name="Banana")
    product_make(sku="DEL-QUESO", unit=Unit.KILOGRAM, price="45.00", plu="310", name="Queso")
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", name="Leche")
    stock_receive(**{"FRU-BANANA": "20.000", "DEL-QUESO": "5.000", "LAC-LECHE-1L": "10"})


def test_a_weight_label_carries_its_plu_and_its_weight_in_grams():
    label = label_read("2000102012503")

    assert (label.plu, label.weight, label.price) == ("102", Decimal("1.250"), None)
    assert ean13_check_digit("200010201250") == 3


def test_a_wrong_check_digit_or_a_prefix_no_format_names_is_not_a_label():
    for barcode in (WRONG_CHECK, "7790742023001", "20001020125", "2000102O12503"):
        with pytest.raises(DomainError) as refused:
            label_read(barcode)
        assert refused.value.code == "invalid_barcode", barcode


@override_settings(SCALE_BARCODE_FORMATS="20-24:PPIIIIIWWWWWC,25-29:PPIIIII$$$$$C")
def test_the_chain_configures_price_labels_on_their_own_prefixes():
    assert label_read(label_make(plu="310", cents=1523, prefix="26")).price == Decimal("15.23")
    assert label_read(label_make(plu="310", grams=1523, prefix="21")).weight == Decimal("1.523")


# One table: a sale body with label lines, and what the API answers (status, code). Each body is also judged by the
# till's fast path and by the serializer, which must agree.
LABEL_CASES = [
    ({"lines": [{"barcode": BANANAS_1250}]}, 201, None),
    ({"lines": [{"barcode": BANANAS_1250}, {"sku": "LAC-LECHE-1L", "quantity": "2"}]}, 201, None),
    ({"lines": [{"barcode": BANANAS_1250}, {"barcode": label_make(plu="102", grams=750)}]}, 201, None),
    ({"lines": [{"barcode": WRONG_CHECK}]}, 400, "invalid_barcode"),
    ({"lines": [{"barcode": "7790742023001"}]}, 400, "invalid_barcode"),
    ({"lines": [{"barcode": "abc"}]}, 400, "invalid_barcode"),
    ({"lines": [{"barcode": label_make(plu="999", grams=500)}]}, 400, "unknown_plu"),
    ({"lines": [{"barcode": BANANAS_1250}, {"sku": "FRU-BANANA", "quantity": "1"}]}, 400, "duplicate_sku"),
    ({"lines": [{"barcode": BANANAS_1250, "quantity": "1"}]}, 400, "invalid"),
    ({"lines": [{"barcode": BANANAS_1250, "sku": "FRU-BANANA"}]}, 400, "invalid"),
    ({"lines": [{"barcode": 2000102012503}]}, 400, "invalid"),
    ({"lines": [{"barcode": ""}]}, 400, "invalid"),
    ({"lines": [{"barcode": "2" * 33}]}, 400, "invalid"),
    ({"lines": [{"barcode": None}]}, 400, "invalid"),
    ({"lines": [{"sku": "LAC-LECHE-1L"}]}, 400, "invalid"),
]


@pytest.mark.parametrize(("body", "status", "code"), LABEL_CASES)
def test_the_fast_path_and_the_serializer_agree_on_every_label_line(body, status, code):
    serializer = SaleCreateApi.SaleCreateInputSerializer(data=body)
    plain = sale_input_plain(body)

    if plain is not None:
        assert serializer.is_valid(), serializer.errors
        data = dict(serializer.validated_data)
        data["lines"] = [dict(line) for line in data["lines"]]
        assert plain == data
    else:
        # Left to the serializer: it judges it, or passes it on as it is for the sale to read.
        assert serializer.is_valid() == (code != "invalid"), serializer.errors
    if code == "invalid":
        assert plain is None


@pytest.mark.parametrize(("body", "status", "code"), LABEL_CASES)
def test_the_sale_answers_each_label_line_as_the_table_says(scale_shelf, cashier_client, body, status, code):
    answer = cashier_client.post("/api/v1/sales", body, format="json")

    assert answer.status_code == status, answer.json()
    if code:
        assert answer.json()["code"] == code


def test_a_weight_label_sells_its_weight_at_the_unit_price_and_names_the_label(scale_shelf, cashier_client):
    answer = cashier_client.post("/api/v1/sales", {"lines": [{"barcode": BANANAS_1250}]}, format="json")

    line = answer.json()["lines"][0]
    assert (line["sku"], line["quantity"], line["unit_price"], line["line_total"]) == (
        "FRU-BANANA",
        "1.250",
        "1.80",
        "2.25",
    )
    assert line["barcodes"] == [BANANAS_1250]
    event = OutboxEvent.objects.get(type="sale.completed")
    assert event.payload["lines"] == [
        {"sku": "FRU-BANANA", "quantity": "1.250", "unit_price": "1.80", "barcodes": [BANANAS_1250]}
    ]


def test_two_labels_of_one_product_are_one_line_of_their_weights_added(scale_shelf, cashier_client):
    second = label_make(plu="102", grams=750)
    body = {"lines": [{"barcode": BANANAS_1250}, {"barcode": second}]}

    line = cashier_client.post("/api/v1/sales", body, format="json").json()["lines"][0]

    assert (line["quantity"], line["line_total"], line["barcodes"]) == ("2.000", "3.60", [BANANAS_1250, second])


@override_settings(SCALE_BARCODE_FORMATS="20-29:PPIIIII$$$$$C")
def test_a_price_label_keeps_its_price_and_sells_the_price_over_the_unit_price_rounded_half_up(
    scale_shelf, cashier_client
):
    # 10.00 of cheese at 45.00/kg: 0.2222 kg, sold as 0.222 (which at the unit price would be 9.99).
    label = label_make(plu="310", cents=1000)

    answer = cashier_client.post("/api/v1/sales", {"lines": [{"barcode": label}]}, format="json")

    assert answer.status_code == 201, answer.json()
    line = answer.json()["lines"][0]
    assert (line["quantity"], line["unit_price"], line["gross"], line["line_total"]) == (
        "0.222",
        "45.00",
        "10.00",
        "10.00",
    )
    assert answer.json()["total"] == "10.00"
    event_line = OutboxEvent.objects.get(type="sale.completed").payload["lines"][0]
    assert (event_line["line_total"], event_line["gross"], event_line["discount"]) == ("10.00", "10.00", "0.00")


def test_a_label_sale_sent_again_is_the_same_sale(scale_shelf, cashier_client):
    body = {"id": "5b0f7a52-7d1e-4b35-9a5e-1c2d3e4f5a6b", "lines": [{"barcode": BANANAS_1250}]}

    first = cashier_client.post("/api/v1/sales", body, format="json")
    again = cashier_client.post("/api/v1/sales", body, format="json")
    other = cashier_client.post(
        "/api/v1/sales", {**body, "lines": [{"barcode": label_make(plu="102", grams=1000)}]}, format="json"
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["lines"] == first.json()["lines"]


def test_the_stock_list_and_detail_show_each_products_plu(scale_shelf, cashier_client):
    listed = {row["sku"]: row["plu"] for row in cashier_client.get("/api/v1/stock").json()["results"]}
    detail = cashier_client.get("/api/v1/stock/FRU-BANANA").json()

    assert listed == {"DEL-QUESO": "310", "FRU-BANANA": "102", "LAC-LECHE-1L": ""}
    assert detail["plu"] == "102"
