"""Central ingestion on PostgreSQL: every branch event stored exactly once, in any order (docs/architecture.md,
invariant 3)."""

import random
import uuid
from decimal import Decimal

import pytest

from branches.credentials import branch_credential_revoke, branch_register
from branches.models import Branch, BranchEvent, EventProblem, Transfer
from branches.tests.factories import Events, branch_client, on_hand, push
from inventory.models import StockLevel, StockMovement, Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def catalog(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)


@pytest.fixture
def b001(catalog):
    return branch_client("B001")


def test_events_are_stored_and_applied_to_central_ledger(b001):
    client, _ = b001
    stream = Events("B001")
    events = [stream.received(FRU_BANANA="10.000", LAC_LECHE_1L="6"), stream.sale(FRU_BANANA="1.250")]

    response = push(client, events)

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "conflicts": [],
        "rejected": [],
        "high_water_seq": 2,
        "missing_seqs": [],
    }
    assert on_hand() == {"FRU-BANANA": Decimal("8.750"), "LAC-LECHE-1L": Decimal("6")}
    assert list(StockMovement.objects.filter(branch="B001").values_list("seq", flat=True).order_by("seq")) == [1, 1, 2]
    assert Branch.objects.get(code="B001").last_seen_at is not None


def test_the_same_batch_again_is_absorbed_as_duplicates(b001):
    client, _ = b001
    stream = Events("B001")
    events = [stream.received(FRU_BANANA="10"), stream.sale(FRU_BANANA="2")]
    push(client, events)

    again = push(client, events).json()

    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (0, 2, [])
    assert BranchEvent.objects.count() == 2
    assert on_hand() == {"FRU-BANANA": Decimal("8")}
    assert Branch.objects.get(code="B001").duplicates_absorbed == 2


def test_same_id_with_another_body_is_a_recorded_conflict_not_a_merge(b001):
    client, _ = b001
    stream = Events("B001")
    received = stream.received(FRU_BANANA="10")
    sale = stream.sale(FRU_BANANA="2")
    push(client, [received, sale])
    tampered = {**sale, "payload": {**sale["payload"], "total": "999.00"}}

    answer = push(client, [tampered]).json()

    assert answer["conflicts"] == [sale["id"]]
    assert answer["accepted"] == 0
    problem = EventProblem.objects.get()
    assert (problem.kind, problem.code, problem.seq) == ("conflict", "id_conflict", 2)
    assert BranchEvent.objects.get(id=sale["id"]).payload["total"] == "1.00"
    assert on_hand() == {"FRU-BANANA": Decimal("8")}


def test_a_second_event_with_a_taken_seq_is_a_conflict(b001):
    client, _ = b001
    stream = Events("B001")
    first = stream.received(FRU_BANANA="10")
    push(client, [first])
    impostor = {**stream.received(FRU_BANANA="5"), "seq": 1}

    answer = push(client, [impostor]).json()

    assert answer["conflicts"] == [impostor["id"]]
    assert on_hand() == {"FRU-BANANA": Decimal("10")}


def test_gaps_are_reported_as_missing_and_close_when_they_arrive(b001):
    client, _ = b001
    stream = Events("B001")
    events = [stream.received(FRU_BANANA="10")] + [stream.sale(FRU_BANANA="1") for _ in range(4)]

    first = push(client, [events[0], events[3], events[4]]).json()
    second = push(client, [events[2], events[1]]).json()

    assert (first["high_water_seq"], first["missing_seqs"]) == (1, [2, 3])
    assert (second["high_water_seq"], second["missing_seqs"]) == (5, [])


def test_result_does_not_depend_on_arrival_order(catalog):
    stream = Events("B001")
    sale_id = uuid.uuid4()
    events = [
        stream.received(FRU_BANANA="20", LAC_LECHE_1L="10"),
        stream.sale(sale_id=sale_id, FRU_BANANA="2.5", LAC_LECHE_1L="3"),
        stream.sale(FRU_BANANA="1"),
        stream.void(sale_id),
        stream.count("FRU-BANANA", "18.000", "19.000"),
        stream.make("stock.adjusted", {"reason": "breakage", "lines": [{"sku": "LAC-LECHE-1L", "delta": "-1"}]}),
    ]
    results = []
    for attempt in range(6):
        StockLevel.objects.all().delete()
        StockMovement.objects.all().delete()
        BranchEvent.objects.all().delete()
        Branch.objects.all().delete()
        client, _ = branch_client("B001")
        shuffled = events[:]
        random.Random(attempt).shuffle(shuffled)
        for chunk in (shuffled[:2], shuffled[2:4], shuffled[4:]):
            push(client, chunk)
        results.append(on_hand())

    assert all(result == results[0] for result in results)
    assert results[0] == {"FRU-BANANA": Decimal("18"), "LAC-LECHE-1L": Decimal("9")}


def test_a_void_that_arrives_before_its_sale_waits_for_it(b001):
    client, _ = b001
    stream = Events("B001")
    sale_id = uuid.uuid4()
    received, sale, void = stream.received(FRU_BANANA="10"), stream.sale(sale_id=sale_id, FRU_BANANA="3"), None
    void = stream.void(sale_id)

    push(client, [received, void])
    waiting = BranchEvent.objects.get(type="sale.voided").applied
    push(client, [sale])

    assert waiting is False
    assert BranchEvent.objects.get(type="sale.voided").applied is True
    assert on_hand() == {"FRU-BANANA": Decimal("10")}


def test_an_event_central_cannot_apply_is_rejected_without_blocking_the_rest(b001):
    client, _ = b001
    stream = Events("B001")
    events = [stream.received(FRU_BANANA="10"), stream.sale(NO_SUCH_SKU="1"), stream.sale(FRU_BANANA="1")]

    answer = push(client, events).json()

    assert answer["accepted"] == 2
    assert [(r["id"], r["code"]) for r in answer["rejected"]] == [(events[1]["id"], "unknown_sku")]
    # The hole is known (recorded), not missing: the watermark moves past it.
    assert (answer["high_water_seq"], answer["missing_seqs"]) == (3, [])
    assert EventProblem.objects.get().kind == "rejected"
    assert on_hand() == {"FRU-BANANA": Decimal("9")}


def test_a_received_transfer_is_marked_received(b001):
    client, branch = b001
    transfer = Transfer.objects.create(to_branch=branch, lines=[{"sku": "FRU-BANANA", "quantity": "5"}])
    stream = Events("B001")
    event = stream.make(
        "stock.received", {"transfer_id": str(transfer.id), "lines": [{"sku": "FRU-BANANA", "quantity": "5.000"}]}
    )

    push(client, [event])

    transfer.refresh_from_db()
    assert transfer.state == "received"


@pytest.mark.parametrize(
    "body",
    [
        {"branch": "B001", "events": []},
        {"branch": "B001", "events": "nope"},
        {"branch": "B001", "events": [{"id": "not-a-uuid", "seq": 1}]},
        {"branch": "B001", "events": [{"id": str(uuid.uuid4()), "seq": 0, "branch": "B001"}]},
        {"events": []},
    ],
)
def test_malformed_batches_are_400_and_store_nothing(b001, body):
    client, _ = b001

    response = client.post("/api/v1/sync/events", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] in ("invalid", "invalid_event")
    assert BranchEvent.objects.count() == 0


def test_more_than_500_events_is_400(b001):
    client, _ = b001
    stream = Events("B001")

    response = push(client, [stream.received(FRU_BANANA="1") for _ in range(501)])

    assert response.status_code == 400
    assert BranchEvent.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------------------------


def test_another_branchs_events_are_403(b001):
    client, _ = b001
    branch_client("B002")
    stream = Events("B002")

    in_body = push(client, [stream.received(FRU_BANANA="1")], branch="B002")
    in_event = push(client, [stream.received(FRU_BANANA="1")], branch="B001")

    assert (in_body.status_code, in_event.status_code) == (403, 403)
    assert BranchEvent.objects.count() == 0


def test_no_credential_is_401(catalog, anonymous_client):
    response = push(anonymous_client, [Events("B001").received(FRU_BANANA="1")])

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Branch"


def test_a_staff_token_is_not_a_branch_credential(catalog, manager_client):
    assert push(manager_client, [Events("B001").received(FRU_BANANA="1")]).status_code == 401


def test_revoked_and_rotated_credentials_are_401(b001):
    client, _ = b001
    stream = Events("B001")
    _, fresh = branch_register(code="B001", grace_s=0)  # rotated with no grace: the old credential stops working

    rotated = push(client, [stream.received(FRU_BANANA="1")])
    client.credentials(HTTP_AUTHORIZATION=f"Branch {fresh}")
    works = push(client, [stream.received(FRU_BANANA="1")])
    branch_credential_revoke(code="B001")
    revoked = push(client, [stream.received(FRU_BANANA="1")])

    assert (rotated.status_code, works.status_code, revoked.status_code) == (401, 200, 401)


def test_only_a_hash_of_the_credential_is_stored(b001):
    _, credential = branch_register(code="B009")

    stored = Branch.objects.get(code="B009")

    assert credential not in {stored.credential_hash, stored.name}
    assert len(stored.credential_hash) == 64


def test_an_adjustment_naming_the_change_it_applied_is_accepted_and_a_malformed_reference_rejected(b001):
    client, _ = b001
    stream = Events("B001")
    adjusted = stream.make(
        "stock.adjusted",
        {
            "reason": "transfer to B002",
            "lines": [{"sku": "LAC-LECHE-1L", "delta": "-2"}],
            "change_id": 41,
            "change_digest": "ab" * 32,
        },
    )
    malformed = stream.make(
        "stock.adjusted",
        {"reason": "x", "lines": [{"sku": "LAC-LECHE-1L", "delta": "-1"}], "change_id": "41", "change_digest": "ab"},
    )

    answer = push(client, [adjusted, malformed]).json()

    assert answer["accepted"] == 1
    assert [(item["id"], item["code"]) for item in answer["rejected"]] == [(malformed["id"], "invalid_payload")]
    assert BranchEvent.objects.get(id=adjusted["id"]).payload["change_id"] == 41
    assert on_hand() == {"LAC-LECHE-1L": Decimal("-2")}


def _document_events(stream: Events, kind: str, document: uuid.UUID) -> dict:
    """An event of ``kind`` recording ``document``, as a branch writes it."""
    match kind:
        case "sale":
            return stream.sale(sale_id=document, FRU_BANANA="3")
        case "void":
            return stream.void(document)
        case "return":
            return stream.make(
                "return.completed",
                {
                    "return_id": str(document),
                    "sale_id": str(uuid.uuid4()),
                    "lines": [{"sku": "FRU-BANANA", "quantity": "1"}],
                },
            )
        case "count":
            return stream.make(
                "stock.counted",
                {"count_id": str(document), "lines": [{"sku": "FRU-BANANA", "counted": "5", "previous": "7"}]},
            )
        case "receipt":
            return stream.make(
                "stock.received",
                {"transfer_id": None, "receipt_id": str(document), "lines": [{"sku": "FRU-BANANA", "quantity": "4"}]},
            )
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["sale", "void", "return", "count", "receipt"])
@pytest.mark.parametrize("together", [False, True], ids=["later", "same_batch"])
def test_a_second_event_for_a_document_already_stored_is_a_recorded_conflict_never_counted(b001, kind, together):
    client, _ = b001
    stream = Events("B001")
    sold = stream.sale(FRU_BANANA="1")
    push(client, [stream.received(FRU_BANANA="20"), sold])
    document = uuid.UUID(sold["payload"]["sale_id"]) if kind == "void" else uuid.uuid4()
    first, second = _document_events(stream, kind, document), _document_events(stream, kind, document)
    if together:
        answer = push(client, [first, second]).json()
    else:
        push(client, [first])
        answer = push(client, [second]).json()
    counted_once = on_hand()

    assert answer["conflicts"] == [second["id"]]
    assert answer["high_water_seq"] == second["seq"], "the refused seq is a known hole, not a missing one"
    assert answer["missing_seqs"] == []
    assert not BranchEvent.objects.filter(id=second["id"]).exists()
    problem = EventProblem.objects.get(event_id=second["id"])
    assert (problem.kind, problem.code) == ("conflict", "duplicate_document")
    assert first["id"] in problem.detail
    assert push(client, [second]).json()["conflicts"] == [second["id"]], "sent again: still refused"
    assert on_hand() == counted_once
    assert EventProblem.objects.get(event_id=second["id"]).times_seen == 2
