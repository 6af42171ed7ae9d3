"""Central's admission limit on the sync endpoints: past SYNC_ADMISSION_SLOTS concurrent sync requests per machine,
one more is refused at once with 503, a JSON error and Retry-After, and nothing of it is stored."""

import pytest

from branches.admission import sync_slot
from branches.models import BranchEvent
from branches.tests.factories import Events, branch_client
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def one_slot(settings, db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    settings.SYNC_ADMISSION_SLOTS = 1
    settings.SYNC_ADMISSION_RETRY_AFTER_S = 3


def test_a_push_beyond_the_slots_gets_503_with_retry_after_and_nothing_is_stored(one_slot):
    client, _ = branch_client("B001")
    events = Events("B001")
    body = {"branch": "B001", "events": [events.received(FRU_BANANA="5")]}

    with sync_slot() as held:  # another worker is busy with a sync request
        refused = client.post("/api/v1/sync/events", body, format="json")

    assert held
    assert refused.status_code == 503
    assert 3 <= int(refused["Retry-After"]) <= 6
    assert refused.json()["code"] == "overloaded"
    assert set(refused.json()) == {"code", "detail", "fields"}
    assert BranchEvent.objects.count() == 0


def test_the_push_is_admitted_once_the_slot_is_free(one_slot):
    client, _ = branch_client("B001")
    events = Events("B001")
    body = {"branch": "B001", "events": [events.received(FRU_BANANA="5")]}
    with sync_slot():
        client.post("/api/v1/sync/events", body, format="json")

    stored = client.post("/api/v1/sync/events", body, format="json")

    assert stored.status_code == 200, stored.content
    assert stored.json()["accepted"] == 1, stored.json()
    assert BranchEvent.objects.count() == 1


def test_a_pull_beyond_the_slots_is_refused_too(one_slot):
    client, _ = branch_client("B001")

    with sync_slot():
        refused = client.get("/api/v1/sync/changes", {"since": 0})

    assert refused.status_code == 503
    assert refused.has_header("Retry-After")


def test_managers_are_never_refused_while_branches_hold_every_slot(one_slot, manager_client):
    with sync_slot():
        inventory = manager_client.get("/api/v1/inventory")
        discrepancies = manager_client.get("/api/v1/discrepancies")

    assert (inventory.status_code, discrepancies.status_code) == (200, 200)


def test_the_slots_are_counted_per_machine_not_per_request(settings):
    settings.SYNC_ADMISSION_SLOTS = 2

    with sync_slot() as first, sync_slot() as second, sync_slot() as third:
        held = (first, second, third)

    assert held == (True, True, False)


def test_zero_slots_means_no_limit(settings):
    settings.SYNC_ADMISSION_SLOTS = 0
    client, _ = branch_client("B001")

    answer = client.get("/api/v1/sync/changes", {"since": 0})

    assert answer.status_code == 200
