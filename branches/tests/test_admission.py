"""Central's admission limit on the sync endpoints: past SYNC_ADMISSION_SLOTS concurrent sync requests per machine,
one more waits in one of SYNC_ADMISSION_QUEUE places for a slot to free up, at most SYNC_ADMISSION_WAIT_S; past those,
or after that wait, it is refused with 503, a JSON error and Retry-After, and nothing of it is stored."""

import os
import re
import threading
import time

import pytest
import requests
from django.db import connections

from branches.admission import place_paths, sync_slot, waiting_place
from branches.models import BranchEvent
from branches.tests.factories import Events, branch_client
from harness.faults import SlowBody
from harness.processes import Node, WebServer
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


def test_a_sync_request_without_a_valid_branch_credential_is_refused_before_it_takes_a_slot(one_slot):
    """Admission authenticates first: with every slot held, a stranger is told 401 (as the view would), not 503."""
    branch_client("B001")
    stranger = branch_client("B009")[0]
    stranger.credentials(HTTP_AUTHORIZATION="Branch ecb_made-up")

    with sync_slot() as held:
        made_up = stranger.post("/api/v1/sync/events", {"branch": "B001", "events": []}, format="json")
        anonymous = type(stranger)().post("/api/v1/sync/events", {"branch": "B001", "events": []}, format="json")

    assert held
    assert (made_up.status_code, made_up.json()["code"]) == (401, "authentication_failed")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert made_up["WWW-Authenticate"] == anonymous["WWW-Authenticate"] == "Branch"


# --------------------------------------------------------------------------------------------------------------
# A real central under gunicorn: clients that send a body slowly hold no slot
# --------------------------------------------------------------------------------------------------------------

BODY_TIMEOUT_S = 4
PUSH = "/api/v1/sync/events"


@pytest.fixture
def central_server(tmp_path):
    """Central under gunicorn with sync workers (as its sync pool runs) on the embedded SQLite: one push slot, one
    place in the queue, a second's wait, and a body timeout of a few seconds."""
    node = Node(
        mode="central",
        data_dir=tmp_path / "central",
        env={
            "SYNC_ADMISSION_SLOTS": "1",
            "SYNC_ADMISSION_PULL_SLOTS": "1",
            "SYNC_ADMISSION_QUEUE": "1",
            "SYNC_ADMISSION_WAIT_S": "1",
            "REQUEST_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        },
    )
    node.manage("migrate", "--no-input", "-v", "0")
    node.manage("load_demo_catalog")
    credentials = dict(
        re.findall(r"branch: (\S+).*\ncredential: (\S+)", node.manage("register_branch", "B001", "B002"))
    )
    server = WebServer(node, workers=4).start()
    try:
        yield server, credentials
    finally:
        server.stop()


def _push(server: WebServer, credential: str) -> requests.Response:
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}
    return requests.post(
        f"{server.url}/api/v1/sync/events", json=body, headers={"Authorization": f"Branch {credential}"}, timeout=30
    )


@pytest.mark.processes
def test_anonymous_clients_trickling_a_body_are_refused_at_once_and_a_branch_push_goes_through(central_server):
    """Two sockets trickling a 100,000-byte body a byte at a time, one with no credential and one with a made-up one:
    admitted before authentication they held the slot and the place, and the branch's push was refused."""
    server, credentials = central_server
    trickles = [SlowBody(server.port, PUSH, None), SlowBody(server.port, PUSH, "Branch ecb_made-up")]
    try:
        pushed = _push(server, credentials["B001"])
        refused = [trickle.status(timeout=20) for trickle in trickles]
    finally:
        for trickle in trickles:
            trickle.close()

    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["accepted"] == 1
    assert refused == [401, 401]


@pytest.mark.processes
def test_a_branch_whose_body_trickles_holds_no_slot_and_gets_408_after_the_body_timeout(central_server):
    """A valid credential gets as far as reading its body, which must arrive within REQUEST_BODY_TIMEOUT_S and
    holds no slot meanwhile: another branch's push is admitted while it trickles."""
    server, credentials = central_server
    trickle = SlowBody(server.port, PUSH, f"Branch {credentials['B002']}")
    try:
        pushed = _push(server, credentials["B001"])
        timed_out = trickle.status(timeout=BODY_TIMEOUT_S + 30)
    finally:
        trickle.close()

    assert pushed.status_code == 200, pushed.text
    assert timed_out == 408
