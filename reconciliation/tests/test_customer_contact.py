"""Head office reaches the customer of an oversold sale: the contact the till took arrives in the sale
event, the oversell case shows it to managers only, and it is erased CUSTOMER_CONTACT_RETENTION_DAYS after the
case is resolved."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from branches.models import BranchEvent, EventProblem
from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make
from reconciliation.contacts import customer_contacts_erase
from reconciliation.models import CaseAction, OversellCase
from reconciliation.services import reconcile

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

CONTACT = {"name": "Ana Pérez", "phone": "+54 11 5555-0101"}


def oversold_sale(stream: Events, sale_id, customer=None) -> dict:
    event = stream.sale(sale_id, LAC_LECHE_1L="3")
    if customer:
        event["payload"]["customer"] = customer
    return event


@pytest.fixture
def case(db):
    """B001 had 1 litre of milk and sold 3, taking the customer's contact at the till."""
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    client, _ = branch_client("B001")
    stream = Events("B001")
    sale_id = uuid.uuid4()
    answer = push(client, [stream.received(LAC_LECHE_1L="1"), oversold_sale(stream, sale_id, CONTACT)]).json()
    assert answer["accepted"] == 2, answer
    reconcile()
    return OversellCase.objects.get(), str(sale_id)


def test_the_oversell_case_shows_the_customer_with_the_sale_to_managers(case, manager, manager_client, client):
    _, sale_id = case
    cases = manager_client.get("/api/v1/oversell-cases").json()["results"]

    assert [sale["customer"] for sale in cases[0]["sales"] if sale["sale_id"] == sale_id] == [CONTACT]
    client.force_login(manager)
    page = client.get("/dashboard/").content.decode()
    assert "Ana Pérez" in page and "tel:+54 11 5555-0101" in page


def test_cashiers_and_anonymous_never_see_a_contact(case, cashier_client, anonymous_client, cashier, client):
    assert cashier_client.get("/api/v1/oversell-cases").status_code == 403
    assert anonymous_client.get("/api/v1/oversell-cases").status_code in (401, 403)
    client.force_login(cashier)
    assert "Ana" not in client.get("/dashboard/").content.decode()


def test_an_event_without_a_contact_is_still_schema_1_and_a_malformed_contact_is_rejected(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    client, _ = branch_client("B001")
    stream = Events("B001")
    plain, bad = oversold_sale(stream, uuid.uuid4()), oversold_sale(stream, uuid.uuid4(), {"phone": 5551234})

    answer = push(client, [plain, bad]).json()

    assert answer["accepted"] == 1
    assert [(r["id"], r["code"]) for r in answer["rejected"]] == [(bad["id"], "invalid_payload")]


@override_settings(CUSTOMER_CONTACT_RETENTION_DAYS=30)
def test_the_contact_is_erased_30_days_after_the_case_is_resolved_and_not_before(case, manager_client):
    oversell, sale_id = case
    manager_client.patch(
        f"/api/v1/oversell-cases/{oversell.pk}", {"action": "resolve", "resolution": "refunded"}, format="json"
    )
    resolved_at = OversellCase.objects.get().updated_at

    assert customer_contacts_erase(now=resolved_at + timedelta(days=29)) == 0
    assert "customer" in BranchEvent.objects.get(sale_ref=sale_id).payload

    assert customer_contacts_erase(now=resolved_at + timedelta(days=30, seconds=1)) == 1
    assert "customer" not in BranchEvent.objects.get(sale_ref=sale_id).payload
    assert "customer" not in manager_client.get("/api/v1/oversell-cases").json()["results"][0]["sales"][0]
    assert CaseAction.objects.filter(oversell_case=oversell, action="customer_contact_erased").count() == 1
    assert customer_contacts_erase(now=resolved_at + timedelta(days=60)) == 0  # a second run finds nothing


@override_settings(CUSTOMER_CONTACT_RETENTION_DAYS=30, CUSTOMER_CONTACT_MAX_DAYS=180)
def test_an_unresolved_case_keeps_its_contact_until_the_longest_retention_and_no_longer(case):
    oversell, sale_id = case
    assert customer_contacts_erase(now=timezone.now() + timedelta(days=179)) == 0

    assert customer_contacts_erase(now=timezone.now() + timedelta(days=181)) == 1
    assert "customer" not in BranchEvent.objects.get(sale_ref=sale_id).payload
    [erased] = CaseAction.objects.filter(oversell_case=oversell, action="customer_contact_erased")
    assert "180 days" in erased.note


@override_settings(CUSTOMER_CONTACT_RETENTION_DAYS=30)
def test_the_raw_body_of_a_rejected_sale_loses_its_contact_after_the_retention(db):
    client, _ = branch_client("B001")
    stream = Events("B001")
    rejected = push(client, [oversold_sale(stream, uuid.uuid4(), CONTACT)]).json()["rejected"]  # unknown SKU
    assert [r["code"] for r in rejected] == ["unknown_sku"]
    assert "customer" in EventProblem.objects.get().body["payload"]

    assert customer_contacts_erase(now=timezone.now() + timedelta(days=29)) == 0
    assert customer_contacts_erase(now=timezone.now() + timedelta(days=31)) == 1
    assert "customer" not in EventProblem.objects.get().body["payload"]


@override_settings(CUSTOMER_CONTACT_RETENTION_DAYS=30)
def test_a_contact_no_case_ever_named_is_erased_after_the_retention_from_its_arrival(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    client, _ = branch_client("B001")
    stream = Events("B001")
    push(client, [stream.received(LAC_LECHE_1L="5"), oversold_sale(stream, uuid.uuid4(), CONTACT)])

    assert customer_contacts_erase(now=timezone.now() + timedelta(days=29)) == 0
    assert customer_contacts_erase(now=timezone.now() + timedelta(days=31)) == 1


def test_install_schedule_installs_the_erasure_and_the_report_roll_ups(db):
    from django_celery_beat.models import PeriodicTask

    call_command("install_schedule")

    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"reconciliation.tasks.customer_contacts_erase_task", "reports.tasks.report_rollup_task"} <= tasks
