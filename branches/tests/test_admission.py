"""Central's admission limit on the sync endpoints: past SYNC_ADMISSION_SLOTS concurrent sync requests per machine,
one more is refused at once with 503, a JSON error and Retry-After, and nothing of it is stored."""

import pytest

from branches.admission import _hold_record, retry_after_s, sync_slot
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
    assert int(refused["Retry-After"]) >= 3
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


def test_the_refused_are_given_turns_in_order_spread_at_the_rate_slots_free_up(settings, tmp_path):
    """A slot held 2 s on average with 2 slots frees one every second: the tenth refusal in a row comes back about
    ten seconds later than the first, each later than the one before, none before the minimum."""
    settings.DATA_DIR, settings.SYNC_ADMISSION_SLOTS, settings.SYNC_ADMISSION_RETRY_AFTER_S = tmp_path, 2, 2
    _hold_record(2.0)

    turns = [retry_after_s() for _ in range(10)]

    assert turns[0] == 2  # the minimum: the first turn is one second away
    assert turns == sorted(turns) and 10 <= turns[-1] <= 11


def test_turns_follow_how_long_the_slots_are_held(settings, tmp_path):
    settings.DATA_DIR, settings.SYNC_ADMISSION_SLOTS, settings.SYNC_ADMISSION_RETRY_AFTER_S = tmp_path, 4, 1
    for _ in range(50):
        with sync_slot():
            pass  # sync requests that hold their slot for next to no time: the refused wait the minimum

    assert [retry_after_s() for _ in range(20)] == [1] * 20
    for _ in range(50):
        _hold_record(0.8)  # 500-event pushes of a returning chain: 4 slots free one every 0.2 s

    assert 4 <= [retry_after_s() for _ in range(20)][-1] <= 5


def test_an_unreadable_book_starts_again(settings, tmp_path):
    settings.DATA_DIR, settings.SYNC_ADMISSION_SLOTS, settings.SYNC_ADMISSION_RETRY_AFTER_S = tmp_path, 1, 2
    (tmp_path / "admission").mkdir()
    (tmp_path / "admission" / "book").write_text("not a book")

    assert retry_after_s() == 2
    assert len((tmp_path / "admission" / "book").read_text().split()) == 2
