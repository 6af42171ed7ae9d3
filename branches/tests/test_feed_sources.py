"""Central's side of a branch's pull: transfers no branch could apply are refused at the source, a cursor central
no longer holds is answered with ``resync``, and failed changes reported by a branch are recorded."""

import pytest

from branches.change_feed import change_append, change_body
from branches.models import BranchChangeFailure, Change, ChangeKind, Transfer
from branches.protocol import change_digest
from branches.tests.factories import branch_client
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def catalog(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="OLD-SODA", unit=Unit.UNIT, active=False)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ({"sku": "LAC-LECHE-1L", "quantity": "1.5"}, "fractional_quantity"),
        ({"sku": "NO-SUCH-SKU", "quantity": "1"}, "unknown_sku"),
        ({"sku": "OLD-SODA", "quantity": "1"}, "unknown_sku"),
    ],
    ids=["fraction-of-a-unit", "unknown", "inactive"],
)
@pytest.mark.parametrize("source", ["", "B002"], ids=["from-warehouse", "from-branch"])
def test_a_transfer_no_branch_could_apply_is_refused(catalog, manager_client, line, code, source):
    branch_client("B001")
    branch_client("B002")

    response = manager_client.post(
        "/api/v1/transfers",
        {"to_branch": "B001", "from_branch": source, "lines": [{"sku": "FRU-BANANA", "quantity": "1.25"}, line]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert list(response.json()["fields"]["lines"]) == ["1"]
    assert not Transfer.objects.exists() and not Change.objects.exists()


def test_a_cursor_beyond_the_newest_change_is_told_to_resync(catalog):
    client, branch = branch_client("B001")
    with_transaction(lambda: change_append(kind=ChangeKind.RESEND, branch=branch, payload={"seqs": [1]}))
    newest = Change.objects.get().id

    ahead = client.get("/api/v1/sync/changes", {"since": newest + 5}).json()
    current = client.get("/api/v1/sync/changes", {"since": newest}).json()

    assert ahead == {"changes": [], "next_cursor": newest + 5, "newest_id": newest, "resync": "cursor_ahead"}
    assert current == {"changes": [], "next_cursor": newest, "newest_id": newest, "resync": None}


def test_a_cursor_naming_another_change_than_the_branch_applied_is_told_to_resync(catalog):
    client, branch = branch_client("B001")
    change = with_transaction(lambda: change_append(kind=ChangeKind.RESEND, branch=branch, payload={"seqs": [1]}))
    digest = change_digest(change_body(change))

    same = client.get("/api/v1/sync/changes", {"since": change.id, "digest": digest}).json()
    other = client.get("/api/v1/sync/changes", {"since": change.id, "digest": "0" * 64}).json()

    assert same["resync"] is None
    assert other["resync"] == "cursor_changed"


def test_failed_changes_a_branch_reports_are_recorded_once_and_updated(catalog):
    client, branch = branch_client("B001")
    failure = {
        "change_id": 7,
        "kind": "adjustment",
        "code": "unknown_sku",
        "detail": "Unknown SKU 'X'.",
        "failed_at": "2026-11-29T10:00:00+00:00",
    }
    url = "/api/v1/sync/failed-changes"

    first = client.post(url, {"branch": "B001", "failures": [failure]}, format="json")
    resolved = client.post(
        url, {"branch": "B001", "failures": [{**failure, "resolved_at": "2026-11-29T11:00:00+00:00"}]}, format="json"
    )
    other_branch = client.post(url, {"branch": "B002", "failures": [failure]}, format="json")
    malformed = client.post(url, {"branch": "B001", "failures": [{"change_id": "x"}]}, format="json")

    assert (first.status_code, first.json()) == (200, {"recorded": 1})
    assert resolved.status_code == 200
    assert [(f.change_id, f.code, f.resolved_at is not None) for f in BranchChangeFailure.objects.all()] == [
        (7, "unknown_sku", True)
    ]
    assert (other_branch.status_code, malformed.status_code) == (403, 400)


def with_transaction(make):
    from django.db import transaction

    with transaction.atomic():
        return make()
