"""What head office types into the catalog is held to the same rules by the API and by admin: a new SKU is printable
characters without blanks or control characters, a name carries no control or direction-changing character, and a
price is a decimal string in the one format ("-0" is stored as 0.00)."""

import pytest
from django.test import Client

from branches.models import Change
from inventory.models import Product
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

PRODUCT = {"name": "Pera", "unit": "kg", "price": "2.10"}
BAD_SKUS = {
    "tab and formula": "\t=2+3",
    "space, right-to-left override and carriage return": "A B\u202e\r",
    "trailing space": "PERA ",
    "non-breaking space": "PERA\u00a01",
    "zero-width space": "PERA\u200b",
    "bell": "PERA\x07",
    "too long": "P" * 33,
}
BAD_NAMES = {
    "right-to-left override": "Pera \u202egnp.exe",
    "left-to-right isolate": "Pera \u2066x\u2069",
    "line break": "Pera\nde agua",
    "tab": "Pera\tde agua",
    "line separator": "Pera\u2028de agua",
    "escape": "Pera\x1b[31m",
}
BAD_PRICES = {"exponent": "1E+2", "underscore": "1_0", "blank": " 2.10", "bare point": ".5", "JSON number": 2.1}


@pytest.fixture
def admin_client(db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("operator", password="pw-operator-1")
    client = Client()
    client.force_login(user)
    return client


def _refused(response, field: str) -> bool:
    return (response.status_code, response.json()["code"], list(response.json()["fields"])) == (400, "invalid", [field])


@pytest.mark.parametrize("sku", BAD_SKUS.values(), ids=BAD_SKUS.keys())
def test_the_api_refuses_a_new_sku_a_person_cannot_read(manager_client, sku):
    from urllib.parse import quote

    response = manager_client.put(f"/api/v1/products/{quote(sku, safe='')}", PRODUCT, format="json")

    assert _refused(response, "sku"), response.content
    assert not Product.objects.exists() and not Change.objects.exists()


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_the_api_refuses_a_name_with_a_control_character(manager_client, name):
    response = manager_client.put("/api/v1/products/FRU-PERA", {**PRODUCT, "name": name}, format="json")

    assert _refused(response, "name"), response.content
    assert not Change.objects.exists()


@pytest.mark.parametrize("price", BAD_PRICES.values(), ids=BAD_PRICES.keys())
def test_the_api_refuses_a_price_out_of_format(manager_client, price):
    response = manager_client.put("/api/v1/products/FRU-PERA", {**PRODUCT, "price": price}, format="json")

    assert _refused(response, "price"), response.content


def test_a_price_of_minus_zero_is_stored_and_sent_as_zero(manager_client):
    manager_client.put("/api/v1/products/FRU-PERA", {**PRODUCT, "price": "-0"}, format="json")

    assert str(Product.objects.get(sku="FRU-PERA").price) == "0.00"
    assert Change.objects.get().payload["price"] == "0.00"


def test_a_product_stored_before_the_rules_can_still_be_repriced(manager_client):
    product_make(sku="OLD SKU", name="Old")

    response = manager_client.put("/api/v1/products/OLD%20SKU", {"price": "3.00"}, format="json")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [("sku", "\t=2+3"), ("name", "Pera \u202egnp.exe"), ("price", "1E+2"), ("price", "-0,5")],
    ids=["sku", "name", "price exponent", "negative price"],
)
def test_admin_refuses_what_the_api_refuses(admin_client, field, value):
    form = {"sku": "FRU-PERA", "name": "Pera", "unit": "kg", "price": "2.10", "barcode": "", "active": "on"}

    response = admin_client.post("/admin/inventory/product/add/", {**form, field: value})

    assert list(response.context["adminform"].form.errors) == [field]
    assert not Product.objects.exists() and not Change.objects.exists()


def test_admin_stores_a_price_of_minus_zero_as_zero(admin_client):
    form = {"sku": "FRU-PERA", "name": "Pera", "unit": "kg", "price": "-0", "barcode": "", "active": "on"}

    response = admin_client.post("/admin/inventory/product/add/", form)

    assert response.status_code == 302
    assert str(Product.objects.get(sku="FRU-PERA").price) == "0.00"
