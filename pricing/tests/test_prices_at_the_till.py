"""At the branch: scheduled prices and promotions kept from the feed, in force by the branch's own clock at the
sale (``now`` passed), the saving in the sale's answer and its event."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from branches import protocol
from branches.change_apply import change_apply
from branches.models import ChangeKind, OutboxEvent
from inventory.models import Unit
from inventory.services import Line, sale_create
from inventory.tests.factories import product_make, stock_receive

pytestmark = pytest.mark.mode("branch")

NOON = timezone.now().replace(microsecond=0) + timedelta(days=1)


@pytest.fixture
def store(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25")
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="2.00")
    stock_receive(**{"LAC-LECHE-1L": "50", "FRU-BANANA": "50.000"})


def _price(sku: str, price: str, effective_at, *, created_at=None, change_id: int = 1) -> uuid.UUID:
    price_id = uuid.uuid4()
    payload = protocol.price_change_payload(
        price_id=price_id,
        sku=sku,
        price=Decimal(price),
        effective_at=effective_at,
        created_at=created_at or NOON - timedelta(days=2),
    )
    change_apply({"id": change_id, "kind": ChangeKind.PRICE, "payload": payload})
    return price_id


def _promotion(kind: str, skus: list[str], *, starts_at=NOON, days: int = 7, **figures) -> uuid.UUID:
    promotion_id = uuid.uuid4()
    payload = protocol.promotion_change_payload(
        promotion_id=promotion_id,
        name=f"{kind} promo",
        kind=kind,
        skus=skus,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(days=days),
        **figures,
    )
    change_apply({"id": 1, "kind": ChangeKind.PROMOTION, "payload": payload})
    return promotion_id


def _sell(now, **quantities):
    recorded, _ = sale_create(
        sale_id=None,
        lines=[Line(sku=sku, quantity=Decimal(q)) for sku, q in quantities.items()],
        payment_method="cash",
        cashier=None,
        now=now,
    )
    return recorded


def test_a_scheduled_price_holds_from_its_time_by_the_branchs_clock(store):
    _price("LAC-LECHE-1L", "0.99", NOON)

    before = _sell(NOON - timedelta(seconds=1), **{"LAC-LECHE-1L": "2"})
    after = _sell(NOON, **{"LAC-LECHE-1L": "2"})

    assert (before.lines[0].unit_price, before.sale.total) == (Decimal("1.25"), Decimal("2.50"))
    assert (after.lines[0].unit_price, after.sale.total) == (Decimal("0.99"), Decimal("1.98"))
    event = OutboxEvent.objects.filter(type="sale.completed").order_by("seq").last()
    assert event.payload["lines"][0]["unit_price"] == "0.99"


def test_of_two_schedules_the_later_effective_time_holds_after_its_time(store):
    _price("LAC-LECHE-1L", "0.90", NOON + timedelta(hours=2), created_at=NOON - timedelta(days=3))
    _price("LAC-LECHE-1L", "1.10", NOON, created_at=NOON - timedelta(days=1), change_id=2)

    prices = [_sell(NOON + timedelta(hours=h), **{"LAC-LECHE-1L": "1"}).lines[0].unit_price for h in (1, 3)]

    assert prices == [Decimal("1.10"), Decimal("0.90")]


def test_the_stock_read_shows_the_price_in_force_now(store, cashier_client):
    _price("LAC-LECHE-1L", "1.05", timezone.now() - timedelta(minutes=1))
    _price("FRU-BANANA", "9.99", timezone.now() + timedelta(days=1), change_id=2)

    detail = cashier_client.get("/api/v1/stock/LAC-LECHE-1L").json()
    listed = {row["sku"]: row["price"] for row in cashier_client.get("/api/v1/stock").json()["results"]}

    assert detail["price"] == "1.05"
    assert listed == {"FRU-BANANA": "2.00", "LAC-LECHE-1L": "1.05"}


def test_buy_three_pay_two_makes_every_third_unit_free_and_shows_the_saving(store, cashier_client):
    promotion = _promotion("multibuy", ["LAC-LECHE-1L"], starts_at=timezone.now() - timedelta(hours=1), buy=3, pay=2)

    answer = cashier_client.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "7"}]}, format="json")

    body = answer.json()
    line = body["lines"][0]
    assert (line["gross"], line["discount"], line["line_total"]) == ("8.75", "2.50", "6.25")
    assert line["promotion_id"] == str(promotion)
    assert (body["total"], body["saving"]) == ("6.25", "2.50")
    event_line = OutboxEvent.objects.get(type="sale.completed").payload["lines"][0]
    assert event_line == {
        "sku": "LAC-LECHE-1L",
        "quantity": "7.000",
        "unit_price": "1.25",
        "line_total": "6.25",
        "gross": "8.75",
        "discount": "2.50",
        "promotion_id": str(promotion),
    }


def test_the_second_unit_at_half_price_discounts_each_full_pair(store):
    _promotion("nth_percent", ["LAC-LECHE-1L"], buy=2, percent=Decimal("50"))

    line = _sell(NOON, **{"LAC-LECHE-1L": "5"}).lines[0]

    assert (line.discount, line.line_total) == (Decimal("1.25"), Decimal("5.00"))  # two pairs: 2 x 0.625


def test_where_several_promotions_apply_the_largest_saving_wins(store):
    _promotion("percent", ["FRU-BANANA", "LAC-LECHE-1L"], percent=Decimal("10"))
    best = _promotion("price", ["FRU-BANANA"], price=Decimal("1.50"))
    _promotion("multibuy", ["FRU-BANANA"], buy=2, pay=1)  # not for goods sold by weight

    recorded = _sell(NOON, **{"FRU-BANANA": "2.000", "LAC-LECHE-1L": "2"})

    bananas, milk = recorded.lines
    assert (bananas.discount, bananas.promotion_id) == (Decimal("1.00"), best)
    assert (milk.discount, milk.line_total) == (Decimal("0.25"), Decimal("2.25"))
    assert recorded.sale.total == Decimal("5.25")


def test_a_promotion_applies_only_within_its_period(store):
    _promotion("percent", ["LAC-LECHE-1L"], days=1, percent=Decimal("20"))

    discounts = [
        _sell(at, **{"LAC-LECHE-1L": "1"}).lines[0].discount
        for at in (NOON - timedelta(seconds=1), NOON, NOON + timedelta(days=1))
    ]

    assert discounts == [Decimal("0.00"), Decimal("0.25"), Decimal("0.00")]


def test_a_price_change_for_a_product_not_here_yet_fails_and_applies_once_it_arrives(store):
    from branches.change_apply import change_try, failed_changes_retry
    from branches.models import FailedChange

    payload = protocol.price_change_payload(
        price_id=uuid.uuid4(), sku="NEW-SKU", price=Decimal("3.00"), effective_at=NOON, created_at=NOON
    )
    change = {"id": 9, "kind": ChangeKind.PRICE, "payload": payload}
    assert change_try(change=change, digest=protocol.change_digest(change), failure=None, now=NOON) is False
    product_make(sku="NEW-SKU", unit=Unit.UNIT, price="2.00")

    assert failed_changes_retry() == 1
    assert FailedChange.objects.get(id=9).resolved_at is not None
