"""Head office's discount figures: gross, discount and net per day, branch, SKU and promotion, adding up to the
day's sales; the till's markdowns listed by branch, cashier, approving manager and reason."""

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone

from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make
from pricing.models import Promotion
from reports.models import MarkdownDay, PriceDay, SalesDay
from reports.services import report_rollup_refresh

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

DAY = "2026-11-28"
RANGE = {"from": DAY, "to": DAY}
NEAR_EXPIRY = {"percent": "10.00", "reason": "near expiry"}
LOYAL = {"amount": "0.50", "reason": "loyal customer"}


def line(sku: str, quantity: str, unit_price: str, **priced) -> dict:
    return {"sku": sku, "quantity": quantity, "unit_price": unit_price, **priced}


def sale(stream: Events, hour: int, lines: list[dict], total: str, **fields) -> dict:
    event = stream.make(
        "sale.completed",
        {
            "sale_id": str(uuid.uuid4()),
            "number": stream.seq + 1,
            "lines": lines,
            "total": total,
            "payment_method": "cash",
            "cashier": "carla",
            **fields,
        },
    )
    event["occurred_at"] = datetime(2026, 11, 28, hour, tzinfo=UTC).isoformat()
    return event


@pytest.fixture
def promotion(db):
    return Promotion.objects.create(
        name="Leche 3x2",
        kind="multibuy",
        skus=["LAC-LECHE-1L"],
        starts_at=datetime(2026, 11, 27, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, tzinfo=UTC),
        buy=3,
        pay=2,
    )


@pytest.fixture
def priced_day(db, settings, promotion):
    """B001 sells milk on 3x2 with a 10 % near-expiry markdown on the line and 0.50 off the whole sale (approved by
    mario), then bread at full price; B002 sells milk on 3x2. As the branches' sales write their events."""
    settings.TIME_ZONE = "UTC"
    timezone.activate("UTC")
    product_make(sku="PAN-FLAUTA", unit=Unit.UNIT, price="2.00", name="Flauta")
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", name="Leche")
    b1, _ = branch_client("B001")
    b2, _ = branch_client("B002")
    s1, s2 = Events("B001"), Events("B002")
    promo = str(promotion.id)
    marked_down = [
        # 3.75 less 1.25 (3x2) is 2.50; 10 % of that is 0.25, and 0.18 is its share of the sale's 0.50.
        line(
            "LAC-LECHE-1L",
            "3.000",
            "1.25",
            gross="3.75",
            discount="1.68",
            line_total="2.07",
            promotion_id=promo,
            markdown=NEAR_EXPIRY,
            markdown_discount="0.43",
        ),
        line("PAN-FLAUTA", "2.000", "2.00", gross="4.00", discount="0.32", line_total="3.68", markdown_discount="0.32"),
    ]
    events_1 = [
        s1.received(PAN_FLAUTA="50", LAC_LECHE_1L="40"),
        sale(s1, 9, marked_down, "5.75", markdown=LOYAL, markdown_approved_by="mario"),
        sale(s1, 10, [line("PAN-FLAUTA", "1.000", "2.00")], "2.00"),
    ]
    on_promotion = line(
        "LAC-LECHE-1L", "3.000", "1.25", gross="3.75", discount="1.25", line_total="2.50", promotion_id=promo
    )
    events_2 = [s2.received(LAC_LECHE_1L="10"), sale(s2, 11, [on_promotion], "2.50")]
    assert push(b1, events_1).json()["accepted"] == 3
    assert push(b2, events_2, branch="B002").json()["accepted"] == 2
    report_rollup_refresh()
    yield promotion
    timezone.deactivate()


def _rows(client, name: str = "discounts") -> list[dict]:
    client.post("/i18n/setlang/", {"language": "en"})
    response = client.get(f"/reports/discounts/{name}.csv", RANGE)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_gross_discount_and_net_per_day_branch_sku_and_promotion(priced_day, manager, client):
    client.force_login(manager)
    rows = _rows(client)

    promo = str(priced_day.id)
    assert [
        (r["branch"], r["sku"], r["promotion_id"], r["promotion"], r["gross"], r["discount"], r["net"]) for r in rows
    ] == [
        ("B001", "LAC-LECHE-1L", promo, "Leche 3x2", "3.75", "1.68", "2.07"),
        ("B001", "PAN-FLAUTA", "", "", "6.00", "0.32", "5.68"),
        ("B002", "LAC-LECHE-1L", promo, "Leche 3x2", "3.75", "1.25", "2.50"),
    ]
    assert [r["markdown_discount"] for r in rows] == ["0.43", "0.32", "0.00"]


def test_a_days_gross_less_discount_is_its_net_and_its_sales(priced_day, manager, client):
    client.force_login(manager)
    rows = _rows(client)

    gross, discount, net = (sum(Decimal(row[name]) for row in rows) for name in ("gross", "discount", "net"))
    sold = sum(day.sold_amount for day in SalesDay.objects.filter(day=DAY))
    assert gross - discount == net == sold == Decimal("10.25")
    assert (gross, discount) == (Decimal("13.50"), Decimal("3.25"))


def test_markdowns_are_listed_by_branch_cashier_approver_and_reason(priced_day, manager, client):
    client.force_login(manager)
    rows = _rows(client, "markdowns")

    assert [(r["branch"], r["cashier"], r["approved_by"], r["reason"], r["markdowns"], r["amount"]) for r in rows] == [
        ("B001", "carla", "mario", "loyal customer", "1", "0.50"),
        ("B001", "carla", "mario", "near expiry", "1", "0.25"),
    ]


@pytest.mark.parametrize(("language", "title"), [("es", "Descuentos y rebajas"), ("en", "Discounts and markdowns")])
def test_the_page_shows_both_tables_in_the_managers_language(priced_day, manager, client, language, title):
    client.force_login(manager)
    client.post("/i18n/setlang/", {"language": language})
    page = client.get("/reports/discounts/", RANGE).content.decode()

    assert 'id="report-discounts"' in page and 'id="report-markdowns"' in page
    assert "Leche 3x2" in page and "loyal customer" in page
    assert f"<h1>{title}</h1>" in page


def test_only_managers_see_the_discounts(priced_day, cashier, client):
    assert client.get("/reports/discounts/").status_code == 302
    client.force_login(cashier)
    assert client.get("/reports/discounts/").status_code == 403
    assert client.get("/reports/discounts/markdowns.csv").status_code == 403


def test_events_rolled_up_before_the_upgrade_reach_the_new_tables(priced_day, manager, client):
    """The migration empties the roll-ups and their cursors, so the history is folded once more, into the new tables
    too (which were empty then: here they are emptied as they were)."""
    PriceDay.objects.all().delete()
    MarkdownDay.objects.all().delete()
    import_module("reports.migrations.0004_pricedays").fold_again(apps, None)

    assert report_rollup_refresh() == 5
    client.force_login(manager)
    assert sum(Decimal(row["net"]) for row in _rows(client)) == Decimal("10.25")
    assert len(_rows(client, "markdowns")) == 2


def test_the_api_shows_the_rows_of_the_csv(priced_day, manager, manager_client, client):
    client.force_login(manager)
    for name in ("discounts", "markdowns"):
        answer = manager_client.get(f"/api/v1/reports/{name}", RANGE)
        assert answer.status_code == 200, answer.content
        api = answer.json()["rows"]
        assert _rows(client, name) == [{key: str(value) for key, value in row.items()} for row in api], name
