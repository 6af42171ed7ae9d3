"""What the till page is given to show grocery pricing before the sale: the chain's scale label formats, the
promotions running or to come (by id, with their terms), and a stock search that finds a label's PLU."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inventory.models import Unit
from inventory.tests.factories import product_make
from pricing.models import Promotion

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def _config(user) -> dict:
    client = Client()
    client.force_login(user)
    html = client.get("/pos/").content.decode()
    return json.loads(re.search(r'<script id="pos-config" type="application/json">(.*?)</script>', html, re.S)[1])


def test_the_till_is_given_the_label_formats_and_the_promotions_not_ended(cashier, settings):
    settings.SCALE_BARCODE_FORMATS = "20-24:PPIIIIIWWWWWC,25-29:PPIIIII$$$$$C"
    now = timezone.now()
    running = Promotion.objects.create(
        name="Leche 3x2", kind="multibuy", skus=["LAC-LECHE-1L"], starts_at=now, ends_at=now + timedelta(days=1)
    )
    running.buy, running.pay = 3, 2
    running.save()
    Promotion.objects.create(
        name="Old", kind="percent", skus=["X"], starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1)
    )

    config = _config(cashier)

    assert [(f["first"], f["last"], f["carries"]) for f in config["scale_formats"]] == [
        (20, 24, "weight"),
        (25, 29, "price"),
    ]
    assert list(config["promotions"]) == [str(running.id)]
    assert config["promotions"][str(running.id)] | {"starts_at": "", "ends_at": ""} == {
        "name": "Leche 3x2",
        "kind": "multibuy",
        "skus": ["LAC-LECHE-1L"],
        "starts_at": "",
        "ends_at": "",
        "percent": None,
        "price": None,
        "buy": 3,
        "pay": 2,
    }


def test_the_stock_search_finds_a_product_by_its_plu(cashier_client):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="1.80", plu="102", name="Banana")
    product_make(sku="FRU-MANZANA", unit=Unit.KILOGRAM, price="2.40", plu="1020", name="Manzana")

    found = cashier_client.get("/api/v1/stock", {"search": "102"}).json()["results"]

    assert [(row["sku"], row["plu"]) for row in found] == [("FRU-BANANA", "102")]
