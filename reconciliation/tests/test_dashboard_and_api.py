"""Managers see and act on discrepancies; cashiers and anonymous users do not (docs/architecture.md)."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command

from branches.models import Change
from branches.tests.factories import Events, branch_client, push, snapshot
from inventory.models import Unit
from inventory.tests.factories import product_make
from reconciliation.models import CaseAction, Discrepancy, OversellCase
from reconciliation.services import reconcile

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def findings(db):
    """B001 reported 7.5 kg of bananas where central's ledger says 8, and oversold 2 litres of milk."""
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    client, _ = branch_client("B001")
    stream = Events("B001")
    push(client, [stream.received(FRU_BANANA="10", LAC_LECHE_1L="1"), stream.sale(FRU_BANANA="2", LAC_LECHE_1L="3")])
    push(client, [snapshot(stream, 2, FRU_BANANA="7.500", LAC_LECHE_1L="-2")])
    reconcile()
    return Discrepancy.objects.get(kind="count_mismatch"), OversellCase.objects.get()


@pytest.fixture
def web_manager(client, manager):
    manager.set_password("pw-manager-1")
    manager.save()
    client.login(username=manager.username, password="pw-manager-1")
    return client


def test_discrepancy_list_filters(findings, manager_client):
    every = manager_client.get("/api/v1/discrepancies").json()["results"]
    counts = manager_client.get("/api/v1/discrepancies", {"kind": "count_mismatch", "branch": "B001"}).json()["results"]
    none = manager_client.get("/api/v1/discrepancies", {"status": "resolved"}).json()["results"]
    recent = manager_client.get("/api/v1/discrepancies", {"since": "2000-01-01"}).json()["results"]

    assert {d["kind"] for d in every} == {"count_mismatch", "oversell"}
    assert [(d["sku"], d["expected"], d["actual"]) for d in counts] == [("FRU-BANANA", "8.000", "7.500")]
    assert none == []
    assert len(recent) == 2
    assert manager_client.get("/api/v1/discrepancies", {"since": "yesterday"}).status_code == 400
    assert manager_client.get("/api/v1/discrepancies", {"kind": "bogus"}).status_code == 400


def test_patch_acknowledges_then_resolves_with_an_audit_trail(findings, manager_client):
    record, _ = findings
    url = f"/api/v1/discrepancies/{record.pk}"

    acknowledged = manager_client.patch(url, {"action": "acknowledge"}, format="json")
    no_note = manager_client.patch(url, {"action": "resolve"}, format="json")
    resolved = manager_client.patch(url, {"action": "resolve", "note": "scale recalibrated"}, format="json")
    again = manager_client.patch(url, {"action": "acknowledge"}, format="json")

    assert acknowledged.json()["status"] == "acknowledged"
    assert no_note.status_code == 409
    assert resolved.json()["status"] == "resolved"
    assert again.status_code == 409
    assert [(a["action"], a["actor"]) for a in resolved.json()["actions"]] == [
        ("detected", "reconciliation"),
        ("acknowledge", "mario"),
        ("resolve", "mario"),
    ]


def test_adjust_stock_goes_to_the_branch_through_the_change_feed(findings, manager_client):
    record, _ = findings

    response = manager_client.patch(
        f"/api/v1/discrepancies/{record.pk}",
        {"action": "adjust_stock", "delta": "-0.5", "note": "shrink"},
        format="json",
    )
    feed_client, _ = branch_client("B001")
    changes = feed_client.get("/api/v1/sync/changes").json()["changes"]

    assert response.status_code == 200
    adjustment = [c for c in changes if c["kind"] == "adjustment"][0]
    assert adjustment["payload"]["lines"] == [{"sku": "FRU-BANANA", "delta": "-0.500"}]


def test_request_recount_reaches_the_branch(findings, manager_client):
    record, _ = findings

    manager_client.patch(f"/api/v1/discrepancies/{record.pk}", {"action": "request_recount"}, format="json")

    assert Change.objects.get(kind="recount").payload == {"skus": ["FRU-BANANA"], "note": ""}


def test_oversell_case_follow_up(findings, manager_client):
    _, case = findings
    url = f"/api/v1/oversell-cases/{case.pk}"

    listed = manager_client.get("/api/v1/oversell-cases", {"status": "unresolved"}).json()["results"]
    contacted = manager_client.patch(url, {"action": "contact", "note": "called"}, format="json").json()
    bad = manager_client.patch(url, {"action": "resolve", "resolution": "magic"}, format="json")
    resolved = manager_client.patch(url, {"action": "resolve", "resolution": "refunded"}, format="json").json()

    assert [c["sku"] for c in listed] == ["LAC-LECHE-1L"]
    assert listed[0]["sales"][0]["oversold"] == "2.000"
    assert contacted["status"] == "customer_contacted"
    assert bad.status_code == 400
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "refunded")


def test_discrepancy_api_is_for_managers_only(findings, cashier_client, anonymous_client):
    assert cashier_client.get("/api/v1/discrepancies").status_code == 403
    assert anonymous_client.get("/api/v1/discrepancies").status_code == 401
    assert cashier_client.patch("/api/v1/discrepancies/1", {"action": "acknowledge"}, format="json").status_code == 403


def test_dashboard_shows_health_discrepancies_cases_and_charts(findings, web_manager):
    page = web_manager.get("/dashboard/")

    html = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="es">' in html
    for fragment in ('id="health"', "FRU-BANANA", "LAC-LECHE-1L", "<svg", 'name="csrfmiddlewaretoken"'):
        assert fragment in html
    assert "cdn" not in html.lower()


def test_dashboard_filters_and_exports_what_is_filtered(findings, web_manager):
    page = web_manager.get("/dashboard/", {"kind": "oversell"}).content.decode()
    exported = web_manager.get("/dashboard/discrepancies.csv", {"kind": "oversell"})

    text = b"".join(exported.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert 'id="discrepancy-' in page
    assert [row[3] for row in rows[1:]] == ["oversell"]
    assert rows[0][:4] == ["id", "branch", "sku", "kind"]


def test_resolving_from_the_dashboard_is_recorded(findings, web_manager):
    record, _ = findings

    response = web_manager.post(
        f"/dashboard/discrepancies/{record.pk}/act",
        {"action": "resolve", "note": "recounted, fine", "next": "/dashboard/"},
    )

    record.refresh_from_db()
    assert response.status_code == 302
    assert (record.status, record.resolution_note) == ("resolved", "recounted, fine")
    assert CaseAction.objects.filter(discrepancy=record, action="resolve", actor="mario").exists()


def test_dashboard_forms_need_csrf(findings, manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    record, _ = findings

    response = client.post(f"/dashboard/discrepancies/{record.pk}/act", {"action": "acknowledge"})

    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == "open"


def test_cashiers_get_403_and_anonymous_users_go_to_login(findings, client, cashier):
    anonymous = client.get("/dashboard/")
    client.force_login(cashier)

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/discrepancies.csv").status_code == 403


def test_reconcile_command_prints_a_summary(findings):
    out = io.StringIO()

    call_command("reconcile", "--full", stdout=out, stderr=io.StringIO())

    assert "full pass over 1 branch(es)" in out.getvalue()
    assert "opened: none" in out.getvalue()  # everything was already found by the fixture's pass


def test_install_schedule_writes_the_database_schedule_once(db):
    from django_celery_beat.models import PeriodicTask

    call_command("install_schedule", stdout=io.StringIO())
    call_command("install_schedule", stdout=io.StringIO())

    tasks = PeriodicTask.objects.filter(task="reconciliation.tasks.reconcile_task")
    assert sorted(tasks.values_list("name", flat=True)) == ["reconcile (full, nightly)", "reconcile (incremental)"]
    assert Decimal(tasks.get(name="reconcile (incremental)").interval.every) > 0


def test_lag_chart_shows_the_branches_furthest_behind_not_the_whole_chain(db):
    """A 500-store chain's lag chart was 500 lines of 48 dots each (over a megabyte of page): it keeps the
    branches that were furthest behind over the window, and a branch filter shows that branch's own line."""
    from django.utils import timezone

    from branches.models import Branch
    from reconciliation.lag import branch_lags_record
    from reconciliation.models import ReconciliationRun
    from reconciliation.selectors import LAG_CHART_BRANCHES, lag_history

    now = timezone.now()
    branches = LAG_CHART_BRANCHES + 5
    Branch.objects.bulk_create(Branch(code=f"B{n:03d}", name="") for n in range(branches))
    for minute in range(3):
        run = ReconciliationRun.objects.create(
            started_at=now - timezone.timedelta(minutes=3 - minute),
            finished_at=now,
            lag={f"B{n:03d}": {"events": n * 10 + minute} for n in range(branches)},
        )
        branch_lags_record(run=run)

    chain = lag_history()
    one = lag_history(branch="B002")

    assert sorted(chain) == [f"B{n:03d}" for n in range(branches - LAG_CHART_BRANCHES, branches)]
    assert all(len(points) == 3 for points in chain.values())
    assert list(one) == ["B002"]
    assert [value for _, value in one["B002"]] == [20, 21, 22]
    assert [value for _, value in lag_history(branch="B000")["B000"]] == [0, 1, 2]


def test_lag_chart_draws_the_branches_a_pass_found_behind(findings):
    """Each pass keeps a row per branch behind (a hole in its seqs here), the chart reads those rows; a branch
    that was not behind in a pass shows 0 there, and a chain with nobody behind draws no line."""
    from reconciliation.selectors import lag_history

    client, _ = branch_client("B002")
    stream = Events("B002")
    first, _, third = stream.received(FRU_BANANA="1"), stream.received(FRU_BANANA="1"), stream.received(FRU_BANANA="1")
    assert lag_history() == {}  # the fixture's pass found nobody behind

    push(client, [first, third], branch="B002")
    reconcile()

    chart = lag_history()
    assert list(chart) == ["B002"]
    assert [value for _, value in chart["B002"]] == [0, 2]  # seq 3 seen, 1 stored: 2 behind
    assert [value for _, value in lag_history(branch="B001")["B001"]] == [0, 0]


def test_dashboard_counts_open_discrepancies_per_kind_and_branch_from_one_query(findings, web_manager):
    """The health table's open count and the per-kind table come from the same grouped count, and show a manager's
    resolution at once."""
    record, _ = findings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page = web_manager.get("/dashboard/").content.decode()
    grouped = [
        q["sql"] for q in queries if "GROUP BY" in q["sql"] and '"reconciliation_discrepancy"."status" IN' in q["sql"]
    ]
    web_manager.post(f"/dashboard/discrepancies/{record.pk}/act", {"action": "resolve", "note": "recounted"})
    after = web_manager.get("/dashboard/").content.decode()

    assert len(grouped) == 1
    assert _cell(page, "health-B001", 5) == "2"
    assert "B001: 1" in _by_kind(page, "conteo no coincide") and "B001: 1" in _by_kind(page, "sobreventa")
    assert _cell(after, "health-B001", 5) == "1"
    assert "conteo no coincide" not in after.split('id="by-kind"', 1)[1].split("</table>", 1)[0]


def _cell(page: str, row_id: str, index: int) -> str:
    row = page.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[index].strip()


def _by_kind(page: str, label: str) -> str:
    table = page.split('id="by-kind"', 1)[1].split("</table>", 1)[0]
    return table.split(f"<td>{label}</td>", 1)[1].split("</tr>", 1)[0]
