"""What is in force is kept per process (pricing/selectors.py) and never outlives a change: a price or a promotion
written by the feed or by any other connection applies from the next sale, and what is scheduled switches at its
time by the clock with nothing written in between."""

import sqlite3
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from branches import protocol
from branches.change_apply import change_apply
from branches.models import ChangeKind
from ecomarket import generations
from inventory.models import Unit
from inventory.services import Line, sale_create
from inventory.tests.factories import product_make, stock_receive

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db(transaction=True)]

NOON = timezone.now().replace(microsecond=0) + timedelta(days=1)


@pytest.fixture
def store():
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25")
    stock_receive(**{"LAC-LECHE-1L": "50"})


def _price(price: str, effective_at) -> None:
    payload = protocol.price_change_payload(
        price_id=uuid.uuid4(),
        sku="LAC-LECHE-1L",
        price=Decimal(price),
        effective_at=effective_at,
        created_at=NOON - timedelta(days=2),
    )
    change_apply({"id": 1, "kind": ChangeKind.PRICE, "payload": payload})


def _sold_at(now, quantity: str = "1") -> tuple[Decimal, Decimal]:
    recorded, _ = sale_create(
        sale_id=None,
        lines=[Line(sku="LAC-LECHE-1L", quantity=Decimal(quantity))],
        payment_method="cash",
        cashier=None,
        now=now,
    )
    return recorded.lines[0].unit_price, recorded.lines[0].discount


def test_a_price_from_the_feed_applies_from_the_next_sale(store):
    assert _sold_at(NOON) == (Decimal("1.25"), Decimal("0.00"))

    _price("0.99", NOON - timedelta(hours=1))

    assert _sold_at(NOON) == (Decimal("0.99"), Decimal("0.00"))


def test_a_price_written_by_another_connection_applies_from_the_next_sale(store):
    _price("0.99", NOON - timedelta(hours=1))
    assert _sold_at(NOON) == (Decimal("0.99"), Decimal("0.00"))
    other = sqlite3.connect(settings.DATABASES["default"]["NAME"])
    try:
        with other:
            other.execute("UPDATE pricing_scheduledprice SET price = '0.89'")
    finally:
        other.close()

    assert _sold_at(NOON) == (Decimal("0.89"), Decimal("0.00"))


def test_kept_prices_switch_at_the_next_scheduled_time_by_the_clock(store):
    _price("0.99", NOON + timedelta(hours=2))
    assert _sold_at(NOON) == (Decimal("1.25"), Decimal("0.00"))
    assert _sold_at(NOON + timedelta(hours=1)) == (Decimal("1.25"), Decimal("0.00"))

    assert _sold_at(NOON + timedelta(hours=2)) == (Decimal("0.99"), Decimal("0.00"))


def test_a_kept_promotion_starts_and_ends_at_its_times(store):
    payload = protocol.promotion_change_payload(
        promotion_id=uuid.uuid4(),
        name="Leche 10 %",
        kind="percent",
        skus=["LAC-LECHE-1L"],
        starts_at=NOON + timedelta(hours=1),
        ends_at=NOON + timedelta(hours=2),
        percent=Decimal("10"),
    )
    change_apply({"id": 1, "kind": ChangeKind.PROMOTION, "payload": payload})

    discounts = [_sold_at(NOON + timedelta(minutes=m), "10")[1] for m in (0, 59, 60, 119, 120)]

    assert discounts == [Decimal("0.00"), Decimal("0.00"), Decimal("1.25"), Decimal("1.25"), Decimal("0.00")]


def test_a_sale_at_an_earlier_instant_is_priced_then_and_does_not_replace_the_present(store):
    _price("0.99", NOON)
    assert _sold_at(NOON) == (Decimal("0.99"), Decimal("0.00"))

    assert _sold_at(NOON - timedelta(seconds=1)) == (Decimal("1.25"), Decimal("0.00"))
    with CaptureQueriesContext(connection) as captured:
        assert _sold_at(NOON) == (Decimal("0.99"), Decimal("0.00"))
    assert not [query for query in captured.captured_queries if "pricing_" in query["sql"]]


def test_without_its_triggers_pricing_reads_the_rows_each_sale(store):
    _price("0.99", NOON - timedelta(hours=1))
    assert _sold_at(NOON) == (Decimal("0.99"), Decimal("0.00"))
    with connection.cursor() as cursor:
        cursor.execute('DROP TRIGGER "generation_pricing_pricing_scheduledprice_update"')
    generations._installed.clear()
    try:
        assert generations.generation("pricing") is generations.UNTRACKED
        other = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        try:
            with other:
                other.execute("UPDATE pricing_scheduledprice SET price = '0.89'")
        finally:
            other.close()

        assert _sold_at(NOON) == (Decimal("0.89"), Decimal("0.00"))
    finally:
        generations.triggers_install()
    assert generations.generation("pricing") is not generations.UNTRACKED


def test_every_trigger_the_caches_need_is_in_the_migrated_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}

    wanted = {trigger for trigger, *_ in generations._trigger_names()}
    assert {"auth", "pricing"} <= set(generations.WATCHED)
    assert wanted <= present
