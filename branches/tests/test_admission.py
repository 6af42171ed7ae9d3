"""Central's admission limit on the sync endpoints: past SYNC_ADMISSION_SLOTS concurrent sync requests per machine,
one more waits in one of SYNC_ADMISSION_QUEUE places for a slot to free up, at most SYNC_ADMISSION_WAIT_S; past those,
or after that wait, it is refused with 503, a JSON error and Retry-After, and nothing of it is stored."""

import os
import threading
import time

import pytest
from django.db import connections

from branches.admission import place_paths, sync_slot, waiting_place
from branches.models import BranchEvent
from branches.tests.factories import Events, branch_client
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def one_slot(settings, db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    settings.SYNC_ADMISSION_SLOTS = 1
    settings.SYNC_ADMISSION_PULL_SLOTS = 1
    settings.SYNC_ADMISSION_QUEUE = 0  # no waiting: the tests that wait set their own
    settings.SYNC_ADMISSION_RETRY_AFTER_S = 3


def _held(paths: list[str]) -> int:
    """How many of ``paths`` some process holds an flock on, read from /proc/locks: looking without taking, which
    would itself occupy the place for a moment."""
    inodes = {os.stat(path).st_ino for path in paths if os.path.exists(path)}
    with open("/proc/locks") as locks:
        held = {int(line.split()[5].split(":")[-1]) for line in locks if " FLOCK " in line}
    return len(inodes & held)


def _slot_held_until_someone_waits(done: threading.Event) -> threading.Thread:
    """A thread holding the machine's one slot (another worker busy with a sync request) until a request sits in the
    queue, then releasing it; ``done`` ends it early."""
    holding = threading.Event()

    def hold() -> None:
        with sync_slot() as held:
            assert held
            holding.set()
            deadline = time.monotonic() + 20
            while not _held(place_paths()) and not done.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(timeout=20)
    return thread


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


def test_a_push_finding_every_slot_busy_waits_for_one_and_is_stored_when_it_frees(one_slot, settings):
    """A slot busy for a moment is no reason to send a store away for seconds: the request waits in the queue and
    takes the slot the moment it is released."""
    settings.SYNC_ADMISSION_QUEUE, settings.SYNC_ADMISSION_WAIT_S = 1, 60
    client, _ = branch_client("B001")
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}
    done = threading.Event()
    holder = _slot_held_until_someone_waits(done)

    try:
        stored = client.post("/api/v1/sync/events", body, format="json")
    finally:
        done.set()
        holder.join(timeout=20)

    assert stored.status_code == 200, stored.content
    assert stored.json()["accepted"] == 1
    assert BranchEvent.objects.count() == 1
    assert not _held(place_paths())  # it left its place when it took the slot


def test_a_push_waits_at_most_the_wait_then_gets_503(one_slot, settings):
    settings.SYNC_ADMISSION_QUEUE, settings.SYNC_ADMISSION_WAIT_S = 1, 0.2
    client, _ = branch_client("B001")
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}

    with sync_slot():
        refused = client.post("/api/v1/sync/events", body, format="json")

    assert refused.status_code == 503
    assert refused.has_header("Retry-After")
    assert BranchEvent.objects.count() == 0
    assert not _held(place_paths())  # the refused request left its place


@pytest.mark.django_db(transaction=True)  # the push runs in a thread of its own, on a connection of its own
def test_a_push_finding_the_queue_full_is_refused_without_waiting(one_slot, settings):
    """The queue is bounded: a request beyond it is answered at once, so the workers that answer refusals are never
    all tied up waiting. Were it to wait, it would wait the whole minute and miss the deadline below."""
    settings.SYNC_ADMISSION_QUEUE, settings.SYNC_ADMISSION_WAIT_S = 1, 60
    client, _ = branch_client("B001")
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}
    answers = []

    def push() -> None:
        try:
            answers.append(client.post("/api/v1/sync/events", body, format="json"))
        finally:
            connections.close_all()  # this thread's own

    with sync_slot() as held, waiting_place() as placed:  # a slot busy, and another request waiting for it
        pushing = threading.Thread(target=push, daemon=True)
        pushing.start()
        pushing.join(timeout=20)

    pushing.join(timeout=90)
    assert held and placed
    assert answers and answers[0].status_code == 503
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


def test_a_pull_beyond_the_change_feed_slots_is_refused_too(one_slot):
    client, _ = branch_client("B001")

    with sync_slot("pull"):
        refused = client.get("/api/v1/sync/changes", {"since": 0})

    assert refused.status_code == 503
    assert refused.has_header("Retry-After")


def test_pulls_and_pushes_have_slots_of_their_own(one_slot):
    """The stores pull the change feed every few seconds: a cheap request each, but enough of them to hold the push
    slots a catching-up store needs (and the other way round), so each kind waits only for its own."""
    client, _ = branch_client("B001")
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}

    with sync_slot("push") as pushing:
        pulled = client.get("/api/v1/sync/changes", {"since": 0})
    with sync_slot("pull") as pulling:
        pushed = client.post("/api/v1/sync/events", body, format="json")

    assert pushing and pulling
    assert pulled.status_code == 200, pulled.content
    assert pushed.status_code == 200, pushed.content


def test_managers_are_never_refused_while_branches_hold_every_slot(one_slot, manager_client):
    with sync_slot():
        inventory = manager_client.get("/api/v1/inventory")
        discrepancies = manager_client.get("/api/v1/discrepancies")

    assert (inventory.status_code, discrepancies.status_code) == (200, 200)


def test_the_slots_are_counted_per_machine_not_per_request(settings):
    settings.SYNC_ADMISSION_SLOTS = 2

    settings.SYNC_ADMISSION_PULL_SLOTS = 1

    with sync_slot() as first, sync_slot() as second, sync_slot() as third, sync_slot("pull") as pull:
        held = (first, second, third, pull)
    with sync_slot("pull") as first_pull, sync_slot("pull") as second_pull:
        pulls = (first_pull, second_pull)

    assert held == (True, True, False, True)
    assert pulls == (True, False)


def test_zero_slots_means_no_limit(settings):
    settings.SYNC_ADMISSION_SLOTS = 0
    client, _ = branch_client("B001")

    answer = client.get("/api/v1/sync/changes", {"since": 0})

    assert answer.status_code == 200
