"""Central: a branch fetches back its own stored events (``GET /api/v1/sync/events``) and the catalog
(``GET /api/v1/sync/catalog``), to recover after a restore (docs/protocol.md, "Seqs are never reused")."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from branches.change_feed import change_append
from branches.models import BranchEvent, ChangeKind
from branches.protocol import body_hash
from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def catalog(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)


def branch_events(stream: Events, count: int) -> list[dict]:
    events = [stream.received(FRU_BANANA="100.000")] + [stream.sale(FRU_BANANA="1.000") for _ in range(count - 1)]
    for event in events:  # as a branch writes occurred_at: UTC, milliseconds
        event["occurred_at"] = datetime(2026, 11, 29, 12, 0, event["seq"] % 60, 123000, tzinfo=UTC).isoformat(
            timespec="milliseconds"
        )
    return events


def test_a_branch_gets_its_events_back_as_it_sent_them_page_by_page(catalog):
    client, _ = branch_client("B001")
    sent = branch_events(Events("B001"), 7)
    push(client, sent)

    first = client.get("/api/v1/sync/events", {"after": 2, "limit": 3}).json()
    second = client.get("/api/v1/sync/events", {"after": first["next_after"], "limit": 3}).json()

    assert [event["seq"] for event in first["events"] + second["events"]] == [3, 4, 5, 6, 7]
    assert (first["more"], second["more"]) == (True, False)
    assert [body_hash(event) for event in first["events"] + second["events"]] == [body_hash(e) for e in sent[2:]]
    assert (second["high_water_seq"], second["max_seq_seen"]) == (7, 7)
    assert second["last_sale_number"] == sent[-1]["payload"]["number"]


def test_a_branch_never_sees_another_branchs_events(catalog):
    b001, _ = branch_client("B001")
    b002, _ = branch_client("B002")
    push(b001, branch_events(Events("B001"), 3))

    answer = b002.get("/api/v1/sync/events", {"after": 0}).json()

    assert answer["events"] == [] and answer["max_seq_seen"] == 0
    assert BranchEvent.objects.filter(branch="B001").count() == 3


@pytest.mark.parametrize("query", [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "501"}])
def test_a_bad_page_request_is_a_400_with_a_clear_error(catalog, query):
    client, _ = branch_client("B001")

    response = client.get("/api/v1/sync/events", query)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_catalog_comes_back_by_sku_with_the_feeds_newest_change(catalog):
    client, _ = branch_client("B001")

    answer = client.get("/api/v1/sync/catalog").json()

    assert [product["sku"] for product in answer["products"]] == ["FRU-BANANA", "LAC-LECHE-1L"]
    assert answer["more"] is False and answer["newest_change_id"] >= 0


def test_a_rebuilt_box_starts_at_a_cursor_its_first_pull_can_use_when_the_newest_change_is_another_branchs(catalog):
    b001, branch_1 = branch_client("B001")
    _, branch_2 = branch_client("B002")
    with transaction.atomic():
        mine = change_append(kind=ChangeKind.RESEND, branch=branch_1, payload={"seqs": [1]})
        change_append(kind=ChangeKind.RESEND, branch=branch_2, payload={"seqs": [1]})  # the feed's newest

    start = b001.get("/api/v1/sync/catalog").json()["newest_change_id"]
    first_pull = b001.get("/api/v1/sync/changes", {"since": start}).json()

    assert start == mine.id
    assert first_pull["resync"] is None
