"""A change-feed item whose numbers are outside the one format is not applied at a branch: it is recorded as a
failed change (reported to central, skipped), and the stock it would have moved stays as it was."""

from decimal import Decimal

import pytest
from django.utils import timezone

from branches.change_apply import change_try
from branches.models import AppliedChange, FailedChange
from inventory.models import Product
from inventory.tests.number_cases import BAD_QUANTITIES
from inventory.tests.test_sales_api import on_hand

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

bad = pytest.mark.parametrize("text", BAD_QUANTITIES.values(), ids=BAD_QUANTITIES.keys())


def _try(change: dict) -> bool:
    return change_try(change=change, digest="d" * 64, failure=None, now=timezone.now())


def _adjustment(change_id: int, delta) -> dict:
    lines = [{"sku": "FRU-BANANA", "delta": delta}]
    return {"id": change_id, "kind": "adjustment", "payload": {"reason": "head office", "lines": lines}}


@bad
def test_an_adjustment_with_a_delta_out_of_format_is_recorded_as_failed(shelf, text):
    assert _try(_adjustment(7, text)) is False

    assert FailedChange.objects.get(id=7).code == "invalid_payload"
    assert not AppliedChange.objects.exists()
    assert on_hand("FRU-BANANA") == Decimal("10")


def test_the_probes_adjustment_is_refused_and_a_later_one_still_applies(shelf):
    assert (_try(_adjustment(8, "9999999999973.000")), _try(_adjustment(9, "-1"))) == (False, True)

    assert on_hand("FRU-BANANA") == Decimal("9")


@pytest.mark.parametrize("price", ["1E+2", "1_0", " 1.00", 5], ids=["exponent", "underscore", "blank", "JSON number"])
def test_a_product_with_a_price_out_of_format_is_recorded_as_failed(shelf, price):
    payload = {"sku": "FRU-BANANA", "name": "Banana", "unit": "kg", "price": price, "barcode": "4011", "active": True}

    assert _try({"id": 10, "kind": "product", "payload": payload}) is False

    assert Product.objects.get(sku="FRU-BANANA").price == Decimal("1.80")


def test_a_product_priced_minus_zero_is_stored_at_zero(shelf):
    payload = {"sku": "FRU-BANANA", "name": "Banana", "unit": "kg", "price": "-0.00", "barcode": "4011", "active": True}

    assert _try({"id": 11, "kind": "product", "payload": payload}) is True

    assert str(Product.objects.get(sku="FRU-BANANA").price) == "0.00"
