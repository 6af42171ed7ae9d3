"""The dashboard's cash closes: per day, branch and register, the variance the cashiers' counts left, and the cash
findings head office raised on those sessions (a Z that differs from the sales received, a session left open)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from branches.tests.factories import Events, branch_client, push
from cash.models import SessionRecord
from inventory.tests.factories import product_make
from reconciliation.models import Discrepancy, DiscrepancyKind
from reconciliation.services import reconcile
from reconciliation.tests.test_cash_checks import Drawer
from reconciliation.tests.test_dashboard_and_api import web_manager  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


def dated(events: list[dict], at) -> list[dict]:
    """The events as if they happened at ``at``: the dashboard shows the last two weeks of closes."""
    for event in events:
        event["occurred_at"] = at.isoformat()
    return events


def row_id(branch: str, register: str) -> str:
    record = SessionRecord.objects.get(branch_id=branch, register=register)
    day = timezone.localtime(record.opened_at or record.closed_at).date()
    return f'id="cash-{branch}-{register}-{day:%Y-%m-%d}"'


def row_of(html: str, branch: str, register: str) -> str:
    start = html.index(row_id(branch, register))
    return html[start : html.index("</tr>", start)]


@pytest.fixture
def closes():
    """B001's T1 closed 1.00 short (its sale held: the Z agrees); B001's T2 closed with a sale central rejected
    (the Z differs); B002's T1 opened two hours ago and never closed."""
    product_make()
    now = timezone.now()
    b1, _ = branch_client("B001")
    stream = Events("B001")
    t1 = Drawer(stream, "T1")
    events = [t1.open(), t1.sale("1.80", [("cash", "1.80")])]
    events.append(t1.close(sales_count=1, sales=[("cash", "1.80")], expected="101.80", counted="100.80"))
    t2 = Drawer(stream, "T2")
    events += [t2.open(), t2.sale("2.00", [("card", "2.00")], sku="NEW-SKU", quantity="1")]
    events.append(t2.close(sales_count=1, sales=[("card", "2.00")], expected="100.00", counted="100.00"))
    answer = push(b1, dated(events, now)).json()
    assert [r["code"] for r in answer["rejected"]] == ["unknown_sku"]
    b2, _ = branch_client("B002")
    left_open = Drawer(Events("B002"), "T1")
    push(b2, dated([left_open.open()], now - timedelta(hours=2)), branch="B002")
    with override_settings(CASH_SESSION_OPEN_MAX_S=3600):
        reconcile()


def test_the_dashboard_shows_each_register_s_variance_per_day(closes, web_manager):  # noqa: F811
    html = web_manager.get("/dashboard/").content.decode()

    short = row_of(html, "B001", "T1")
    assert '<td class="num cash-variance">-1,00</td>' in short
    assert "100,80" in short and "101,80" in short
    assert "coincide" in short  # the Z agrees with the sale head office holds
    assert '<td class="num cash-variance">0,00</td>' in row_of(html, "B001", "T2")


def test_the_dashboard_shows_the_cash_findings_on_their_register_s_row(closes, web_manager):  # noqa: F811
    mismatch = Discrepancy.objects.get(kind=DiscrepancyKind.CASH_MISMATCH)
    left_open = Discrepancy.objects.get(kind=DiscrepancyKind.CASH_SESSION_OPEN)

    html = web_manager.get("/dashboard/").content.decode()

    assert f'href="?kind=cash_mismatch#discrepancy-{mismatch.pk}"' in row_of(html, "B001", "T2")
    assert f'href="?kind=cash_session_open#discrepancy-{left_open.pk}"' in row_of(html, "B002", "T1")
    assert "1 sesión abierta" in row_of(html, "B002", "T1")
    assert "discrepancy-" not in row_of(html, "B001", "T1")


def test_the_dashboard_s_branch_filter_applies_to_the_cash_closes(closes, web_manager):  # noqa: F811
    html = web_manager.get("/dashboard/", {"branch": "B002"}).content.decode()

    assert row_id("B002", "T1") in html
    assert row_id("B001", "T1") not in html


def test_the_dashboard_shows_today_s_tiles_and_its_presets_keep_the_other_filters(web_manager):  # noqa: F811
    from reports.models import BranchHour

    BranchHour.objects.create(branch="B001", hour=timezone.now().replace(minute=0, second=0, microsecond=0), sales=2)

    html = web_manager.get("/dashboard/", {"branch": "B001", "period": "week"}).content.decode()

    start = html.index('id="kpi-tickets"')
    assert '<strong class="tile-value">2</strong>' in html[start : html.index("</div>", start)]
    assert 'href="?branch=B001&amp;period=yesterday"' in html
    assert 'id="kpi-period-week" href="?branch=B001&amp;period=week" aria-current="page"' in html
