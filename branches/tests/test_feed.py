"""Central's change feed: catalog and prices for every branch, transfers and resend requests for one."""

import pytest

from branches.change_feed import resend_request_create
from branches.models import Change
from branches.tests.factories import branch_client
from inventory.models import Product

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


def test_a_price_change_enters_every_branchs_feed(manager_client):
    b1, _ = branch_client("B001")
    b2, _ = branch_client("B002")

    created = manager_client.put(
        "/api/v1/products/FRU-PERA", {"name": "Pera", "unit": "kg", "price": "2.10"}, format="json"
    )
    changed = manager_client.put("/api/v1/products/FRU-PERA", {"price": "2.35"}, format="json")
    feeds = [client.get("/api/v1/sync/changes", {"since": 0}).json() for client in (b1, b2)]

    assert (created.status_code, changed.status_code) == (201, 200)
    assert str(Product.objects.get(sku="FRU-PERA").price) == "2.35"
    for feed in feeds:
        assert [(c["kind"], c["payload"]["price"]) for c in feed["changes"]] == [
            ("product", "2.10"),
            ("product", "2.35"),
        ]
        assert feed["next_cursor"] == feed["changes"][-1]["id"]


def test_the_cursor_returns_only_what_is_new(manager_client):
    client, _ = branch_client("B001")
    manager_client.put("/api/v1/products/FRU-PERA", {"name": "Pera", "unit": "kg", "price": "2.10"}, format="json")
    cursor = client.get("/api/v1/sync/changes", {"since": 0}).json()["next_cursor"]

    nothing = client.get("/api/v1/sync/changes", {"since": cursor}).json()

    assert nothing == {"changes": [], "next_cursor": cursor, "newest_id": cursor, "resync": None}


def test_transfers_and_resends_reach_only_their_branch(manager_client):
    b1, branch1 = branch_client("B001")
    b2, _ = branch_client("B002")
    manager_client.put("/api/v1/products/FRU-PERA", {"name": "Pera", "unit": "kg", "price": "2.10"}, format="json")

    transfer = manager_client.post(
        "/api/v1/transfers", {"to_branch": "B001", "lines": [{"sku": "FRU-PERA", "quantity": "12.5"}]}, format="json"
    )
    resend_request_create(branch=branch1, seqs=[7, 5, 7])

    kinds1 = [c["kind"] for c in b1.get("/api/v1/sync/changes").json()["changes"]]
    kinds2 = [c["kind"] for c in b2.get("/api/v1/sync/changes").json()["changes"]]
    assert transfer.status_code == 201
    assert kinds1 == ["product", "transfer", "resend"]
    assert kinds2 == ["product"]
    assert Change.objects.get(kind="resend").payload == {"seqs": [5, 7]}


@pytest.mark.parametrize("since", ["-1", "abc", "9" * 30])
def test_a_bad_cursor_is_400(since):
    client, _ = branch_client("B001")

    assert client.get("/api/v1/sync/changes", {"since": since}).status_code == 400


def test_cashiers_cannot_change_prices_or_send_transfers(cashier_client):
    assert cashier_client.put("/api/v1/products/X", {"price": "1"}, format="json").status_code == 403
    assert cashier_client.post("/api/v1/transfers", {}, format="json").status_code == 403


def test_a_transfer_from_a_branch_orders_that_branch_to_ship_it(manager_client):
    b1, _ = branch_client("B001")
    b2, _ = branch_client("B002")
    manager_client.put("/api/v1/products/FRU-PERA", {"name": "Pera", "unit": "kg", "price": "2.10"}, format="json")

    response = manager_client.post(
        "/api/v1/transfers",
        {"from_branch": "B001", "to_branch": "B002", "lines": [{"sku": "FRU-PERA", "quantity": "4"}]},
        format="json",
    )

    source = [c for c in b1.get("/api/v1/sync/changes").json()["changes"] if c["kind"] == "adjustment"]
    target = [c for c in b2.get("/api/v1/sync/changes").json()["changes"] if c["kind"] == "transfer"]
    assert response.status_code == 201
    assert source[0]["payload"]["lines"] == [{"sku": "FRU-PERA", "delta": "-4.000"}]
    assert source[0]["payload"]["adjustment_id"] == target[0]["payload"]["transfer_id"] == response.json()["id"]
    same = manager_client.post(
        "/api/v1/transfers",
        {"from_branch": "B001", "to_branch": "B001", "lines": [{"sku": "FRU-PERA", "quantity": "1"}]},
        format="json",
    )
    assert same.status_code == 400


def test_central_remembers_how_far_each_branch_applied_the_feed_and_tells_a_rebuilt_box(manager_client):
    b1, branch1 = branch_client("B001")
    b2, _ = branch_client("B002")
    for price in ("2.10", "2.20", "2.30"):
        manager_client.put("/api/v1/products/FRU-PERA", {"name": "Pera", "unit": "kg", "price": price}, format="json")
    first, second, third = Change.objects.order_by("id").values_list("id", flat=True)

    def applied(client):
        return client.get("/api/v1/sync/catalog").json()["feed_applied_cursor"]

    assert applied(b1) is None, "a branch that never pulled"
    b1.get("/api/v1/sync/changes", {"since": 0})
    assert applied(b1) == 0
    b1.get("/api/v1/sync/changes", {"since": second})
    b1.get("/api/v1/sync/changes", {"since": first})  # an older cursor (a box restored from a backup) lowers nothing
    assert applied(b1) == second
    ahead = b1.get("/api/v1/sync/changes", {"since": third + 100}).json()
    changed = b1.get("/api/v1/sync/changes", {"since": third, "digest": "0" * 64}).json()
    assert (ahead["resync"], changed["resync"]) == ("cursor_ahead", "cursor_changed")
    assert applied(b1) == second, "a cursor central does not hold says nothing about what was applied"
    assert applied(b2) is None, "each branch its own"
    branch1.refresh_from_db()
    assert branch1.feed_applied_cursor == second
