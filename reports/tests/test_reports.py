"""Head office reports: figures from central's ledger, the same in the API, the page and the CSV."""

import csv
import io
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make
from reports import services
from reports.models import BranchHour, PaymentsHour, RollupCursor, SalesDay, SalesHour
from reports.services import report_rollup_refresh

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

DAY = "2026-11-28"
RANGE = {"from": DAY, "to": DAY}


def at(hour: int, minute: int = 0) -> str:
    return datetime(2026, 11, 28, hour, minute, tzinfo=UTC).isoformat()


def sale(stream: Events, hour: int, sale_id=None, **lines: tuple[str, str]) -> dict:
    """A sale of ``SKU=(quantity, unit_price)`` at ``hour`` UTC, as the branch's outbox sends it."""
    payload_lines = [{"sku": sku.replace("_", "-"), "quantity": q, "unit_price": p} for sku, (q, p) in lines.items()]
    total = sum(Decimal(q) * Decimal(p) for q, p in lines.values()).quantize(Decimal("0.01"))
    event = stream.make(
        "sale.completed",
        {
            "sale_id": str(sale_id or uuid.uuid4()),
            "number": stream.seq + 1,
            "lines": payload_lines,
            "total": str(total),
            "payment_method": "cash",
            "cashier": "carla",
        },
    )
    event["occurred_at"] = at(hour)
    return event


def returned(stream: Events, hour: int, sale_id, **quantities: str) -> dict:
    lines = [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]
    event = stream.make("return.completed", {"return_id": str(uuid.uuid4()), "sale_id": str(sale_id), "lines": lines})
    event["occurred_at"] = at(hour)
    return event


@pytest.fixture
def chain(db, settings):
    """Two branches on one day (UTC, so days are UTC days): B001 sells bread and milk at 09:00 and 10:00, voids
    one sale and takes back one litre of milk; B002 sells bread at 09:00."""
    settings.TIME_ZONE = "UTC"
    timezone.activate("UTC")
    product_make(sku="PAN-FLAUTA", unit=Unit.UNIT, price="2.00", name="Flauta")
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", name="Leche")
    b1, _ = branch_client("B001")
    b2, _ = branch_client("B002")
    s1, s2 = Events("B001"), Events("B002")
    voided, milk_sale = uuid.uuid4(), uuid.uuid4()
    events_1 = [
        s1.received(PAN_FLAUTA="50", LAC_LECHE_1L="40"),
        sale(s1, 9, PAN_FLAUTA=("3", "2.00"), LAC_LECHE_1L=("2", "1.25")),  # 8.50
        sale(s1, 9, voided, PAN_FLAUTA=("1", "2.00")),  # 2.00, voided at 10:00
        sale(s1, 10, milk_sale, LAC_LECHE_1L=("4", "1.20")),  # 4.80 (an older price travels with the sale)
    ]
    void = s1.void(voided)
    void["occurred_at"] = at(10, 5)
    events_1 += [void, returned(s1, 11, milk_sale, LAC_LECHE_1L="1")]
    events_2 = [s2.received(PAN_FLAUTA="10"), sale(s2, 9, PAN_FLAUTA=("5", "2.00"))]
    assert push(b1, events_1).json()["accepted"] == 6
    assert push(b2, events_2, branch="B002").json()["accepted"] == 2
    report_rollup_refresh()
    yield
    timezone.deactivate()


def report(client, name: str, **params) -> list[dict]:
    response = client.get(f"/api/v1/reports/{name}", {**RANGE, **params})
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def test_sales_by_branch_and_day_and_hour(chain, manager_client):
    assert report(manager_client, "sales") == [
        {
            "period": DAY,
            "branch": "B001",
            "units": "10.000",
            "kg": "0.000",
            "amount": "15.30",
            "voided_amount": "2.00",
            "returned_amount": "1.20",
            "net_amount": "12.10",
        },
        {
            "period": DAY,
            "branch": "B002",
            "units": "5.000",
            "kg": "0.000",
            "amount": "10.00",
            "voided_amount": "0.00",
            "returned_amount": "0.00",
            "net_amount": "10.00",
        },
    ]
    hourly = report(manager_client, "sales", grain="hour", branch="B001")
    assert [(row["period"], row["amount"], row["voided_amount"], row["returned_amount"]) for row in hourly] == [
        (f"{DAY} 09:00", "10.50", "0.00", "0.00"),
        (f"{DAY} 10:00", "4.80", "2.00", "0.00"),
        (f"{DAY} 11:00", "0.00", "0.00", "1.20"),
    ]


def test_sales_of_chosen_products_per_day_and_per_hour(chain, manager_client):
    daily = report(manager_client, "sales", sku="LAC-LECHE-1L")
    assert [(r["branch"], r["units"], r["amount"], r["returned_amount"], r["net_amount"]) for r in daily] == [
        ("B001", "6.000", "7.30", "1.20", "6.10")
    ]
    hourly = report(manager_client, "sales", sku="PAN-FLAUTA", grain="hour")
    assert [(r["period"], r["branch"], r["units"], r["voided_amount"]) for r in hourly] == [
        (f"{DAY} 09:00", "B001", "4.000", "0.00"),
        (f"{DAY} 09:00", "B002", "5.000", "0.00"),
        (f"{DAY} 10:00", "B001", "0.000", "2.00"),
    ]
    rates = report(manager_client, "returns-voids", sku="PAN-FLAUTA")
    assert [(r["branch"], r["sold_amount"], r["void_rate_pct"]) for r in rates] == [
        ("B001", "8.00", "25.00"),
        ("B002", "10.00", "0.00"),
    ]


def test_sales_by_product_with_branch_and_product_filters(chain, manager_client):
    rows = report(manager_client, "products")
    assert [(r["sku"], r["name"], r["units"], r["amount"], r["net_amount"]) for r in rows] == [
        ("PAN-FLAUTA", "Flauta", "9.000", "18.00", "16.00"),
        ("LAC-LECHE-1L", "Leche", "6.000", "7.30", "6.10"),
    ]
    only = report(manager_client, "products", branch="B002", sku="PAN-FLAUTA,LAC-LECHE-1L")
    assert [(r["sku"], r["units"]) for r in only] == [("PAN-FLAUTA", "5.000")]
    assert report(manager_client, "products", **{"from": "2026-11-29", "to": "2026-11-30"}) == []


def test_returns_and_voids_rates(chain, manager_client):
    b001 = report(manager_client, "returns-voids")[0]
    assert (b001["branch"], b001["sales"], b001["voids"], b001["returns"]) == ("B001", 3, 1, 1)
    assert (b001["void_rate_pct"], b001["return_rate_pct"]) == ("13.07", "7.84")  # 2.00 and 1.20 of 15.30


def test_stock_on_hand_and_value_by_branch(chain, manager_client):
    rows = report(manager_client, "stock")
    # B001: bread 50-3-1+1 = 47 x 2.00, milk 40-2-4+1 = 35 x 1.25; B002: bread 5 x 2.00 (today's prices)
    assert [(r["branch"], r["skus"], r["units"], r["value"]) for r in rows] == [
        ("B001", 2, "82.000", "137.75"),
        ("B002", 1, "5.000", "10.00"),
    ]


def test_kilograms_and_units_are_never_added_together(chain, manager_client):
    # B003 sells 2 loaves and 1,5 kg of bananas at 09:00, and holds what is left of them.
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="1.80", name="Banana")
    b3, _ = branch_client("B003")
    s3 = Events("B003")
    events = [
        s3.received(PAN_FLAUTA="10", FRU_BANANA="20.5"),
        sale(s3, 9, PAN_FLAUTA=("2", "2.00"), FRU_BANANA=("1.5", "1.80")),
    ]
    assert push(b3, events, branch="B003").json()["accepted"] == 2
    report_rollup_refresh()

    for grain in ("day", "hour"):
        [row] = report(manager_client, "sales", branch="B003", grain=grain)
        assert (row["units"], row["kg"], row["amount"]) == ("2.000", "1.500", "6.70"), grain
    [stock] = report(manager_client, "stock", branch="B003")
    assert (stock["units"], stock["kg"]) == ("8.000", "19.000")
    products = {row["sku"]: (row["unit"], row["units"]) for row in report(manager_client, "products", branch="B003")}
    assert products == {"PAN-FLAUTA": ("unit", "2.000"), "FRU-BANANA": ("kg", "1.500")}


def test_sync_health_per_hour_and_per_day(chain, manager_client):
    rows = report(manager_client, "sync", branch="B002", grain="hour")
    assert [(r["period"], r["events"], r["events_peak_hour"]) for r in rows] == [
        (f"{DAY} 09:00", 1, 1),
        (f"{DAY} 12:00", 1, 1),
    ]
    assert all(r["lag_max_s"] >= r["lag_mean_s"] > 0 for r in rows)
    daily = report(manager_client, "sync", branch="B001")
    assert [(r["period"], r["events"], r["events_peak_hour"]) for r in daily] == [(DAY, 6, 2)]


def test_roll_up_twice_counts_nothing_twice_and_waits_for_a_hole(chain, manager_client):
    tables = (SalesHour, SalesDay, BranchHour)
    before = [list(model.objects.order_by("id").values()) for model in tables]
    assert report_rollup_refresh() == 0
    assert [list(model.objects.order_by("id").values()) for model in tables] == before

    b2, _ = branch_client("B002")
    stream = Events("B002")
    stream.seq = 3  # seq 3 is still missing: seq 4 is stored, but below the watermark nothing is folded
    assert push(b2, [sale(stream, 12, PAN_FLAUTA=("1", "2.00"))], branch="B002").json()["missing_seqs"] == [3]
    assert report_rollup_refresh() == 0
    stream.seq = 2
    assert push(b2, [sale(stream, 13, PAN_FLAUTA=("2", "2.00"))], branch="B002").json()["high_water_seq"] == 4
    assert report_rollup_refresh() == 2
    assert [r["amount"] for r in report(manager_client, "sales", branch="B002")] == ["16.00"]


def test_a_sale_rejected_then_resent_and_accepted_below_the_cursor_is_folded_once(chain, manager_client):
    """The documented remedy for a rejected event (fix the cause, re-send it) stores it below the roll-up cursor,
    which has already passed its seq: it is folded all the same, once."""
    b2, _ = branch_client("B002")
    stream = Events("B002")
    stream.seq = 2
    cheese = sale(stream, 12, QUE_CREMOSO=("1", "7.00"))  # not in the catalog yet: rejected
    bread = sale(stream, 13, PAN_FLAUTA=("1", "2.00"))
    assert push(b2, [cheese, bread], branch="B002").json()["rejected"][0]["code"] == "unknown_sku"
    assert report_rollup_refresh() == 1
    assert RollupCursor.objects.get(branch="B002").rolled_seq == 4  # past the rejected seq 3
    product_make(sku="QUE-CREMOSO", unit=Unit.UNIT, price="7.00", name="Cremoso")

    assert push(b2, [cheese], branch="B002").json()["accepted"] == 1
    assert report_rollup_refresh() == 1
    assert report_rollup_refresh() == 0

    assert [r["amount"] for r in report(manager_client, "sales", branch="B002")] == ["19.00"]  # 10.00 + 7 + 2


def _rolled_up() -> list[list[dict]]:
    """Every roll-up row, without the ids a second fold gives other values."""
    return [
        [{k: v for k, v in row.items() if k != "id"} for row in model.objects.order_by(*keys).values()]
        for model, keys in (
            (SalesHour, ("branch", "hour", "sku")),
            (SalesDay, ("branch", "day", "sku")),
            (BranchHour, ("branch", "hour")),
            (PaymentsHour, ("branch", "hour", "method")),
        )
    ]


def _roll_up_again() -> None:
    for model in (SalesHour, SalesDay, BranchHour, PaymentsHour, RollupCursor):
        model.objects.all().delete()


def test_the_figures_are_the_same_however_the_backlog_is_cut(chain, monkeypatch):
    """One event per branch per transaction, one branch per group: a void and a return are folded in another
    transaction than their sale, and a branch is folded again until it has caught up."""
    folded_at_once = _rolled_up()
    _roll_up_again()
    monkeypatch.setattr(services, "PER_BRANCH", 1)
    monkeypatch.setattr(services, "GROUP", 1)
    assert report_rollup_refresh() == 8
    assert _rolled_up() == folded_at_once
    assert dict(RollupCursor.objects.values_list("branch", "rolled_seq")) == {"B001": 6, "B002": 2}


@pytest.mark.django_db(transaction=True)
def test_two_roll_ups_at_once_count_nothing_twice(chain, monkeypatch):
    folded_once = _rolled_up()
    _roll_up_again()
    monkeypatch.setattr(services, "PER_BRANCH", 1)
    folded, errors = [], []

    def run() -> None:
        try:
            folded.append(report_rollup_refresh())
        except Exception as error:  # reported below: an exception in a thread would otherwise vanish
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert sum(folded) == 8
    assert _rolled_up() == folded_once


def test_bad_filters_get_a_400_with_the_field(chain, manager_client):
    for params, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-12-01", "to": DAY}, "from"),
        ({"grain": "week"}, "grain"),
        ({"from": "2026-11-01", "to": "2026-11-08", "grain": "hour"}, "grain"),
    ):
        response = manager_client.get("/api/v1/reports/sales", params)
        assert response.status_code == 400
        assert field in response.json()["fields"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-12-01", "to": DAY}, "El primer día es posterior al último"),
        ({"from": "ayer", "to": DAY}, "«ayer» no es una fecha"),
        ({"from": "2026-11-01", "to": DAY, "grain": "hour"}, "Por hora, un informe abarca como máximo 7 días"),
        ({"to": DAY, "grain": "semana"}, "por día o por hora"),
    ],
    ids=["from-after-to", "not-a-date", "too-many-hours", "unknown-grain"],
)
def test_the_page_says_what_is_wrong_with_a_filter_and_keeps_the_others(chain, manager, client, params, says):
    client.force_login(manager)

    response = client.get("/reports/", {**params, "branch": "B002"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    problems = page[page.index('id="report-problems"') : page.index("</ul>", page.index('id="report-problems"'))]
    assert says in problems
    assert 'value="B002" checked' in page and 'value="B001" checked' not in page  # the branch chosen is kept


def test_the_page_says_which_filters_branches_and_products_it_does_not_know(chain, manager, client):
    client.force_login(manager)

    page = client.get(
        "/reports/", {**RANGE, "branch": "B001,B999", "sku": "PAN-FLAUTA,NO-SUCH", "sucursal": "B001"}
    ).content.decode()

    assert "No hay un filtro «sucursal»" in page
    assert "No hay sucursal B999" in page
    assert "Ningún producto con SKU NO-SUCH" in page
    assert "Flauta (PAN-FLAUTA)" in page  # the product chosen, by its name
    assert "LAC-LECHE-1L" not in page[page.index('id="report-products"') :]


def test_only_managers_see_reports(chain, cashier_client, anonymous_client, cashier, client):
    assert cashier_client.get("/api/v1/reports/sales").status_code == 403
    assert anonymous_client.get("/api/v1/reports/sales").status_code in (401, 403)
    assert client.get("/reports/").status_code == 302  # anonymous: to the login page
    client.force_login(cashier)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/sales.csv").status_code == 403


def _downloaded(response) -> str:
    """A CSV download as a spreadsheet reads it: streamed, UTF-8 with a BOM."""
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    return raw.decode("utf-8-sig")


def test_the_page_and_the_csv_show_the_api_figures(chain, manager, manager_client, client):
    client.force_login(manager)
    page = client.get("/reports/", RANGE).content.decode()
    assert page.count("<svg") == 4
    assert "Flauta" in page and "cdn" not in page.lower()

    client.post("/i18n/setlang/", {"language": "en"})  # the API's decimal points and commas between cells
    for name in ("sales", "products", "returns-voids", "payments", "stock", "sync"):
        response = client.get(f"/reports/{name}.csv", RANGE)
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(_downloaded(response))))
        api = report(manager_client, name)
        assert rows == [{key: str(value) for key, value in row.items()} for row in api], name
        assert api and list(rows[0]) == list(api[0]), name  # the same columns, in the same order

    empty = _downloaded(client.get("/reports/sales.csv", {"from": "2020-01-01", "to": "2020-01-02"}))
    assert empty.splitlines() == ["period,branch,units,kg,amount,voided_amount,returned_amount,net_amount"]


def test_the_page_shows_the_first_rows_and_says_the_csv_has_the_rest(chain, manager, client, monkeypatch):
    from reports import views

    monkeypatch.setattr(views, "PAGE_ROWS", 1)
    client.force_login(manager)
    page = client.get("/reports/", RANGE).content.decode()
    sales = page[page.index('id="report-sales"') : page.index("</table>", page.index('id="report-sales"'))]

    assert sales.count("<tr>") == 2  # the header and one row of two
    assert "Las primeras 1 filas; 1 más en el CSV." in page  # the chain's language
