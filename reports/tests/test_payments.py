"""Head office reports: takings by payment method, from the sales' payments (or their one method), less what voids
and returns paid back; the same in the API, the page and the CSV."""

import csv
import io
import uuid

import pytest
from django.utils import timezone

from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make
from reports.services import report_rollup_refresh
from reports.tests.test_reports import RANGE, _downloaded, at, report, returned, sale

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def takings(settings):
    """B001 on one day (UTC): at 09:00 bread paid 4,00 by card and 2,00 in cash (3,00 change given), milk paid by
    card alone (no payments: one payment of its total); at 10:00 bread in cash, voided with no refunds named, and
    bread by transfer from a branch that sends no total; at 11:00 one milk returned, 1,25 back on the card."""
    settings.TIME_ZONE = "UTC"
    timezone.activate("UTC")
    product_make(sku="PAN-FLAUTA", unit=Unit.UNIT, price="2.00", name="Flauta")
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", name="Leche")
    client, _ = branch_client("B001")
    stream = Events("B001")
    milk, voided = uuid.uuid4(), uuid.uuid4()
    split = sale(stream, 9, PAN_FLAUTA=("3", "2.00"))
    split["payload"].update(payments=[{"method": "card", "amount": "4.00"}, {"method": "cash", "amount": "2.00"}])
    split["payload"]["change"] = "3.00"
    by_card = sale(stream, 9, milk, LAC_LECHE_1L=("2", "1.25"))
    by_card["payload"]["payment_method"] = "card"
    cash = sale(stream, 10, voided, PAN_FLAUTA=("1", "2.00"))
    void = stream.void(voided)
    void["occurred_at"] = at(10, 30)
    no_total = sale(stream, 10, PAN_FLAUTA=("1", "2.00"))
    no_total["payload"]["payment_method"] = "transfer"
    del no_total["payload"]["total"]
    back = returned(stream, 11, milk, LAC_LECHE_1L="1")
    back["payload"]["refunds"] = [{"method": "card", "amount": "1.25"}]
    events = [stream.received(PAN_FLAUTA="50", LAC_LECHE_1L="40"), split, by_card, cash, void, no_total, back]
    assert push(client, events).json()["accepted"] == 7
    report_rollup_refresh()
    yield
    timezone.deactivate()


def figures(rows: list[dict]) -> list[tuple]:
    return [(r["period"], r["method"], r["payments"], r["amount"], r["refunded_amount"], r["net_amount"]) for r in rows]


def test_takings_by_method_per_day_count_split_payments_net_of_change_and_refunds(takings, manager_client):
    assert figures(report(manager_client, "payments")) == [
        ("2026-11-28", "card", 2, "6.50", "1.25", "5.25"),
        ("2026-11-28", "cash", 2, "4.00", "2.00", "2.00"),
        ("2026-11-28", "transfer", 1, "2.00", "0.00", "2.00"),
    ]


def test_takings_by_method_per_hour(takings, manager_client):
    assert figures(report(manager_client, "payments", grain="hour")) == [
        ("2026-11-28 09:00", "card", 2, "6.50", "0.00", "6.50"),
        ("2026-11-28 09:00", "cash", 1, "2.00", "0.00", "2.00"),
        ("2026-11-28 10:00", "cash", 1, "2.00", "2.00", "0.00"),
        ("2026-11-28 10:00", "transfer", 1, "2.00", "0.00", "2.00"),
        ("2026-11-28 11:00", "card", 0, "0.00", "1.25", "-1.25"),
    ]


def test_the_product_filter_leaves_payments_whole(takings, manager_client):
    assert report(manager_client, "payments", sku="LAC-LECHE-1L") == report(manager_client, "payments")


def test_the_page_names_each_method_and_the_csv_has_the_api_s_rows(takings, manager, manager_client, client):
    client.force_login(manager)

    page = client.get("/reports/", RANGE).content.decode()
    start = page.index('id="report-payments"')
    table = page[start : page.index("</table>", start)]
    assert table.count("<tr data-method=") == 3
    assert "Tarjeta" in table and "Efectivo" in table and "Transferencia" in table
    assert "6,50" in table
    client.post("/i18n/setlang/", {"language": "en"})  # the API's decimal points and commas between cells
    rows = list(csv.DictReader(io.StringIO(_downloaded(client.get("/reports/payments.csv", RANGE)))))
    assert rows == [{key: str(value) for key, value in row.items()} for row in report(manager_client, "payments")]
