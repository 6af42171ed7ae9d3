"""The dashboard's forms are one more door to the API's rules: each is driven with the cases the API refuses, and
refuses them the same way, with nothing changed and a message saying why."""

import pytest
from django.utils import timezone

from branches.models import Change
from branches.tests.factories import branch_client
from inventory.models import Unit
from inventory.tests.factories import product_make
from inventory.tests.number_cases import BAD_TYPED
from reconciliation.models import CaseAction, Discrepancy, OversellCase

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

DISCREPANCY_REFUSALS = {
    "unknown action": {"action": "explode"},
    "note of 2,001 characters": {"action": "comment", "note": "x" * 2001},
    "note of 100,000 characters": {"action": "resolve", "note": "x" * 100_000},
    **{f"delta {case}": {"action": "adjust_stock", "delta": text} for case, text in BAD_TYPED.items() if text},
}
CASE_REFUSALS = {
    "unknown action": {"action": "explode"},
    "unknown resolution": {"action": "resolve", "resolution": "refund-twice"},
    "note of 2,001 characters": {"action": "contact", "note": "x" * 2001},
}


@pytest.fixture
def records(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    _, branch = branch_client("B001")
    now = timezone.now()
    discrepancy = Discrepancy.objects.create(
        branch=branch, sku="LAC-LECHE-1L", kind="count_mismatch", first_detected_at=now, last_changed_at=now
    )
    case = OversellCase.objects.create(
        branch=branch, sku="LAC-LECHE-1L", shortfall="2", sales=[], created_at=now, updated_at=now
    )
    return discrepancy, case


@pytest.fixture
def web_manager(client, manager):
    client.force_login(manager)
    return client


def _unchanged(discrepancy: Discrepancy, case: OversellCase) -> bool:
    discrepancy.refresh_from_db()
    case.refresh_from_db()
    return (
        (discrepancy.status, case.status, case.note) == ("open", "open", "")
        and not CaseAction.objects.exists()
        and not Change.objects.filter(kind="adjustment").exists()
    )


@pytest.mark.parametrize("body", DISCREPANCY_REFUSALS.values(), ids=DISCREPANCY_REFUSALS.keys())
def test_the_discrepancy_api_refuses_it(records, manager_client, body):
    response = manager_client.patch(f"/api/v1/discrepancies/{records[0].pk}", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert _unchanged(*records)


@pytest.mark.parametrize("body", DISCREPANCY_REFUSALS.values(), ids=DISCREPANCY_REFUSALS.keys())
def test_the_discrepancy_form_refuses_it_and_says_why(records, web_manager, body):
    response = web_manager.post(f"/dashboard/discrepancies/{records[0].pk}/act", body, follow=True)

    assert [message.level_tag for message in response.context["messages"]] == ["error"]
    assert _unchanged(*records)


@pytest.mark.parametrize("body", CASE_REFUSALS.values(), ids=CASE_REFUSALS.keys())
def test_the_oversell_case_api_refuses_it(records, manager_client, body):
    response = manager_client.patch(f"/api/v1/oversell-cases/{records[1].pk}", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert _unchanged(*records)


@pytest.mark.parametrize("body", CASE_REFUSALS.values(), ids=CASE_REFUSALS.keys())
def test_the_oversell_case_form_refuses_it_and_says_why(records, web_manager, body):
    response = web_manager.post(f"/dashboard/oversell/{records[1].pk}/act", body, follow=True)

    assert [message.level_tag for message in response.context["messages"]] == ["error"]
    assert _unchanged(*records)


def test_the_form_takes_a_spanish_decimal_comma_and_orders_the_adjustment(records, web_manager):
    web_manager.post(
        f"/dashboard/discrepancies/{records[0].pk}/act", {"action": "adjust_stock", "delta": "-2,000", "note": ""}
    )

    assert Change.objects.get(kind="adjustment").payload["lines"] == [{"sku": "LAC-LECHE-1L", "delta": "-2.000"}]


def test_a_contact_from_the_form_sends_no_resolution_and_is_recorded(records, web_manager):
    web_manager.post(f"/dashboard/oversell/{records[1].pk}/act", {"action": "contact", "resolution": "", "note": "ok"})

    records[1].refresh_from_db()
    assert (records[1].status, records[1].note) == ("customer_contacted", "ok")


def test_the_dashboard_names_the_product_beside_its_sku(records, web_manager):
    discrepancy, case = records

    page = web_manager.get("/dashboard/").content.decode()

    for row_id in (f"discrepancy-{discrepancy.pk}", f"oversell-{case.pk}"):
        row = page[page.index(f'id="{row_id}"') :].split("</tr>", 1)[0]
        assert 'Lac-Leche-1L <span class="hint">LAC-LECHE-1L</span>' in row
