"""Lists say when there is more: the API pages with cursors, the dashboard counts what it leaves out, the CSV
export carries everything and opens cleanly in a Spanish spreadsheet; dashboard forms only send managers back to
this server's own pages."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from branches.models import Branch
from ecomarket.spreadsheets import csv_cell
from reconciliation.models import Discrepancy, DiscrepancyKind, OversellCase

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


def _discrepancies(count: int, **fields) -> list[Discrepancy]:
    branch, _ = Branch.objects.get_or_create(code="B001", defaults={"name": "Sucursal B001"})
    now = timezone.now()  # one reconciliation pass stamps every record it finds with the same time
    return Discrepancy.objects.bulk_create(
        Discrepancy(
            branch=branch,
            sku=f"SKU-{index:05d}",
            kind=DiscrepancyKind.COUNT_MISMATCH,
            expected=Decimal("8.000"),
            actual=Decimal("-7.500"),
            first_detected_at=now,
            last_changed_at=now,
            **fields,
        )
        for index in range(count)
    )


@pytest.fixture
def web_manager(client, manager):
    client.force_login(manager)
    return client


def _every_page(client, url: str, **params) -> tuple[list[dict], int]:
    rows, pages = [], 0
    answer = client.get(url, params)
    while True:
        body = answer.json()
        rows += body["results"]
        pages += 1
        if not body["next"]:
            return rows, pages
        answer = client.get(body["next"])


def test_discrepancy_list_pages_through_every_record_by_cursor(manager_client):
    made = _discrepancies(2_345)

    rows, pages = _every_page(manager_client, "/api/v1/discrepancies", page_size=1000)

    assert pages == 3
    assert [row["id"] for row in rows] == sorted((record.pk for record in made), reverse=True)


def test_a_page_of_discrepancies_says_there_is_a_next_one(manager_client):
    _discrepancies(150)

    first = manager_client.get("/api/v1/discrepancies").json()

    assert len(first["results"]) == 100
    assert first["next"] and first["previous"] is None


def test_oversell_case_list_pages_by_cursor(manager_client):
    branch = Branch.objects.create(code="B001", name="Sucursal B001")
    now = timezone.now()
    OversellCase.objects.bulk_create(
        OversellCase(
            branch=branch, sku=f"SKU-{index:04d}", shortfall=Decimal("1"), sales=[], created_at=now, updated_at=now
        )
        for index in range(120)
    )

    rows, pages = _every_page(manager_client, "/api/v1/oversell-cases")

    assert (len(rows), len({row["id"] for row in rows}), pages) == (120, 120, 2)


def test_an_invalid_cursor_is_a_clear_error(manager_client):
    answer = manager_client.get("/api/v1/discrepancies", {"cursor": "not-a-cursor"})

    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_cursor")


def test_dashboard_says_how_many_discrepancies_it_does_not_show(web_manager):
    _discrepancies(112)

    page = web_manager.get("/dashboard/", {"status": "open"}).content.decode()

    assert page.count('id="discrepancy-') == 100
    assert "Se muestran las primeras 100 de 112: 12 más." in page


def _health_rows(page: str) -> list[str]:
    table = page.split('id="health"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr id="health-(\w+)"', table)


def test_dashboard_health_shows_the_branches_needing_attention_first_and_says_how_many_it_folds(web_manager):
    """A 500-store chain's health table was 500 rows on every load: it shows the branches that need a look first
    (a failed check, unapplied changes, not heard from, behind, open discrepancies), a bounded number of rows, and
    says how many healthy ones it leaves out; ?health=all lists every branch, a branch filter that branch."""
    from reconciliation.models import BranchCheck
    from reconciliation.views import HEALTH_ROWS

    now = timezone.now()
    Branch.objects.bulk_create(
        Branch(code=f"S{index:03d}", name="", last_seen_at=now) for index in range(HEALTH_ROWS + 10)
    )
    Branch.objects.filter(code="S040").update(last_seen_at=None)  # never heard from
    Branch.objects.filter(code="S041").update(max_seq_seen=9, high_water_seq=2)  # behind
    BranchCheck.objects.create(branch_id="S042", error="boom", error_at=now)
    _discrepancies(1)  # B001: one open discrepancy

    folded = web_manager.get("/dashboard/").content.decode()
    everything = web_manager.get("/dashboard/", {"health": "all"}).content.decode()
    one = web_manager.get("/dashboard/", {"branch": "S007"}).content.decode()

    assert len(_health_rows(folded)) == HEALTH_ROWS
    assert set(_health_rows(folded)[:4]) == {"S040", "S041", "S042", "B001"}
    assert f"de {HEALTH_ROWS + 11} sucursales que requieren atención: 11 más." in folded
    assert len(_health_rows(everything)) == HEALTH_ROWS + 11 and 'id="health-more"' not in everything
    assert _health_rows(one) == ["S007"]


def test_dashboard_showing_everything_says_nothing_more(web_manager):
    _discrepancies(3)

    page = web_manager.get("/dashboard/").content.decode()

    assert 'id="discrepancies-more"' not in page


def _exported(client, **params) -> tuple[str, list[list[str]]]:
    response = client.get("/dashboard/discrepancies.csv", params)
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    return raw.decode("utf-8-sig"), response


def test_csv_export_streams_every_row_for_a_spanish_spreadsheet(web_manager):
    _discrepancies(2_500)

    text, _ = _exported(web_manager)
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))

    assert rows[0][:4] == ["id", "branch", "sku", "kind"]
    assert len(rows) == 2_501
    expected, actual = rows[0].index("expected"), rows[0].index("actual")
    assert (rows[1][expected], rows[1][actual]) == ("8,000", "-7,500")


def test_csv_export_in_english_uses_commas_and_decimal_points(web_manager):
    _discrepancies(1)
    web_manager.post("/i18n/setlang/", {"language": "en"})

    text, _ = _exported(web_manager)
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[1][rows[0].index("actual")] == "-7.500"


def test_csv_export_neutralises_cells_a_spreadsheet_would_run():
    cells = ["=HYPERLINK(1)", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "note", "-7.500", "12"]

    neutralised = [csv_cell(value, decimal_comma=False) for value in cells]

    assert neutralised == [f"'{cell}" for cell in cells[:5]] + ["note", "-7.500", "12"]


def test_csv_export_neutralises_a_resolution_note(web_manager, manager):
    (record,) = _discrepancies(1, status="resolved", resolution_note="=1+2", resolved_at=timezone.now())

    text, _ = _exported(web_manager, status="resolved")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))

    assert rows[1][rows[0].index("resolution_note")] == "'=1+2"
    assert rows[1][0] == str(record.pk)


@pytest.mark.parametrize(
    "target, lands_on",
    [
        ("/dashboard/?kind=oversell", "/dashboard/?kind=oversell"),
        ("https://evil.example/phish", "/dashboard/"),
        ("//evil.example/", "/dashboard/"),
        ("javascript:alert(1)", "/dashboard/"),
        ("", "/dashboard/"),
    ],
)
def test_dashboard_actions_only_redirect_to_this_server(web_manager, target, lands_on):
    (record,) = _discrepancies(1)

    response = web_manager.post(f"/dashboard/discrepancies/{record.pk}/act", {"action": "acknowledge", "next": target})

    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_discrepancies_per_day_counts_the_last_two_weeks_by_the_chains_days():
    from datetime import datetime, time, timedelta

    from reconciliation.selectors import discrepancies_per_day

    today = timezone.localdate()
    start_of_window = timezone.make_aware(datetime.combine(today - timedelta(days=13), time.min))
    for record, found in zip(
        _discrepancies(4),
        [timezone.now(), start_of_window, start_of_window - timedelta(seconds=1), timezone.now() - timedelta(days=20)],
        strict=True,
    ):
        Discrepancy.objects.filter(pk=record.pk).update(first_detected_at=found)

    days = discrepancies_per_day()

    assert len(days) == 14
    assert days[0] == ((today - timedelta(days=13)).isoformat(), 1)
    assert days[-1] == (today.isoformat(), 1)
    assert sum(count for _, count in days) == 2
