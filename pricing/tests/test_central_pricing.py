"""Head office schedules prices and defines promotions; each one enters the change feed at once, ahead of its time."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from branches.models import Change, ChangeKind
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = pytest.mark.mode("central")


@pytest.fixture
def catalog(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25")
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="1.80")


def test_a_scheduled_price_enters_the_feed_now_with_its_effective_time(catalog, manager_client):
    monday = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    answer = manager_client.post(
        "/api/v1/prices", {"sku": "LAC-LECHE-1L", "price": "1.10", "effective_at": monday.isoformat()}, format="json"
    )

    assert answer.status_code == 201, answer.json()
    change = Change.objects.get(kind=ChangeKind.PRICE)
    assert change.payload["sku"] == "LAC-LECHE-1L" and change.payload["price"] == "1.10"
    assert change.payload["price_id"] == answer.json()["id"]
    assert datetime.fromisoformat(change.payload["effective_at"]) == monday
    listed = manager_client.get("/api/v1/prices", {"sku": "LAC-LECHE-1L"}).json()["results"]
    assert [row["price"] for row in listed] == ["1.10"]


def test_a_price_scheduled_in_the_past_takes_effect_now(catalog, manager_client):
    before = timezone.now()

    answer = manager_client.post(
        "/api/v1/prices",
        {"sku": "LAC-LECHE-1L", "price": "1.10", "effective_at": "2020-01-01T00:00:00Z"},
        format="json",
    )

    assert answer.status_code == 201
    assert datetime.fromisoformat(answer.json()["effective_at"]) >= before


def test_a_price_for_an_unknown_sku_or_from_a_cashier_is_refused(catalog, manager_client, cashier_client):
    body = {"sku": "NOPE", "price": "1.00", "effective_at": timezone.now().isoformat()}

    assert manager_client.post("/api/v1/prices", body, format="json").json()["code"] == "unknown_sku"
    assert cashier_client.post("/api/v1/prices", {**body, "sku": "LAC-LECHE-1L"}, format="json").status_code == 403
    assert not Change.objects.filter(kind=ChangeKind.PRICE).exists()


def test_a_base_price_change_overrides_a_schedule_already_in_force(catalog, manager_client):
    manager_client.post(
        "/api/v1/prices",
        {"sku": "LAC-LECHE-1L", "price": "1.10", "effective_at": "2020-01-01T00:00:00Z"},
        format="json",
    )

    manager_client.put("/api/v1/products/LAC-LECHE-1L", {"price": "1.40"}, format="json")

    prices = [change.payload.get("price") for change in Change.objects.filter(kind=ChangeKind.PRICE).order_by("id")]
    assert prices == ["1.10", "1.40"]


def test_a_promotion_enters_the_feed_and_a_wrong_one_is_refused_whole(catalog, manager_client):
    start = timezone.now() + timedelta(hours=1)
    body = {
        "name": "3x2 leche",
        "kind": "multibuy",
        "skus": ["LAC-LECHE-1L"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=7)).isoformat(),
        "buy": 3,
        "pay": 2,
    }

    created = manager_client.post("/api/v1/promotions", body, format="json")
    wrong = manager_client.post("/api/v1/promotions", {**body, "pay": 3}, format="json")
    unknown = manager_client.post("/api/v1/promotions", {**body, "skus": ["NOPE"]}, format="json")

    assert created.status_code == 201, created.json()
    assert (wrong.status_code, unknown.json()["code"]) == (400, "unknown_sku")
    change = Change.objects.get(kind=ChangeKind.PROMOTION)
    assert change.payload | {"starts_at": None, "ends_at": None} == {
        "promotion_id": created.json()["id"],
        "name": "3x2 leche",
        "kind": "multibuy",
        "skus": ["LAC-LECHE-1L"],
        "starts_at": None,
        "ends_at": None,
        "buy": 3,
        "pay": 2,
    }
