"""The branch's pull of the change feed against a real central on loopback (gunicorn on its own PostgreSQL
database): a change the branch cannot apply never blocks the feed, a change pulled again is never applied twice,
and a cursor central no longer knows (central restored from a backup) makes the branch start over."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from branches.change_apply import failed_changes_retry
from branches.models import AppliedChange, FailedChange, IncomingTransfer, OutboxEvent, SyncState
from branches.pull import changes_pull
from branches.tasks import outbox_push_task
from harness.chain import ProcessChain
from inventory.models import Product, StockLevel

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.django_db]

OTHER = "B900"


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    """Central alone: the test process is the branch."""
    chain = ProcessChain(tmp_path_factory.mktemp("central"), branches=())
    chain.prepare()
    chain.central.manage("register_branch", OTHER)
    chain.start()
    yield chain
    chain.stop()


@pytest.fixture
def linked(central, settings, request):
    """This test's own branch at central, so what one test leaves in the feed is never another test's."""
    code = f"T{abs(hash(request.node.name)) % 10**6:06d}"
    credential = re.search(r"credential: (\S+)", central.central.manage("register_branch", code)).group(1)
    settings.BRANCH_CODE = code
    settings.BRANCH_CREDENTIAL = credential
    settings.CENTRAL_URL = central.central_web.url
    return code


def change_insert(central: ProcessChain, *, branch: str, kind: str, payload: dict) -> int:
    """A change as a central without today's checks at the source could have written it."""
    return central.central_sql(
        "INSERT INTO branches_change (branch, kind, payload, created_at) "
        "VALUES (%s, %s, %s::jsonb, now()) RETURNING id",
        branch,
        kind,
        json.dumps(payload),
    )[0][0]


def price_set(central: ProcessChain, sku: str, price: str) -> None:
    answer = central.head_office().put(f"{central.central_web.url}/api/v1/products/{sku}", json={"price": price})
    assert answer.status_code == 200, answer.text


def transfer_send(central: ProcessChain, **body) -> dict:
    answer = central.head_office().post(f"{central.central_web.url}/api/v1/transfers", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def on_hand(sku: str) -> str:
    return str(StockLevel.objects.get(branch=settings.BRANCH_CODE, product_id=sku).on_hand)


def test_a_change_the_branch_cannot_apply_is_skipped_and_listed_as_failed_at_both_ends(
    linked, shelf, central, cashier_client
):
    unknown = change_insert(
        central,
        branch=linked,
        kind="adjustment",
        payload={"adjustment_id": "a1", "reason": "old", "lines": [{"sku": "NO-SUCH-SKU", "delta": "-1"}]},
    )
    fraction = change_insert(
        central,
        branch=linked,
        kind="adjustment",
        payload={"adjustment_id": "a2", "reason": "old", "lines": [{"sku": "LAC-LECHE-1L", "delta": "-0.5"}]},
    )
    price_set(central, "FRU-BANANA", "1.95")

    summary = changes_pull()

    assert (summary.error, summary.failed, summary.reported) == ("", 2, 2)
    assert str(Product.objects.get(sku="FRU-BANANA").price) == "1.95"
    assert on_hand("LAC-LECHE-1L") == "5.000"
    assert not OutboxEvent.objects.filter(type="stock.adjusted").exists()
    assert sorted(FailedChange.objects.values_list("id", "code")) == [
        (unknown, "unknown_sku"),
        (fraction, "fractional_quantity"),
    ]
    assert cashier_client.get("/api/v1/sync/status").json()["failed_changes"] == 2
    assert sorted(
        central.central_sql(
            "SELECT change_id, code, resolved_at FROM branches_branchchangefailure WHERE branch = %s", linked
        )
    ) == [(unknown, "unknown_sku", None), (fraction, "fractional_quantity", None)]
    assert SyncState.objects.get().pull_cursor > fraction


def test_a_failed_change_applied_after_its_cause_is_fixed_is_reported_resolved(linked, shelf, central):
    missing = change_insert(
        central,
        branch=linked,
        kind="adjustment",
        payload={"adjustment_id": "a3", "reason": "old", "lines": [{"sku": "ALM-YERBA-1K", "delta": "4"}]},
    )
    changes_pull()
    Product.objects.create(sku="ALM-YERBA-1K", name="Yerba", unit="unit", price="6.80")

    applied = failed_changes_retry()
    changes_pull()

    assert applied == 1
    assert on_hand("ALM-YERBA-1K") == "4.000"
    assert AppliedChange.objects.filter(id=missing).exists()
    resolved = central.central_sql(
        "SELECT resolved_at IS NOT NULL FROM branches_branchchangefailure WHERE branch = %s AND change_id = %s",
        linked,
        missing,
    )
    assert resolved == [(True,)]


def test_changes_pulled_again_from_zero_are_applied_once(linked, shelf, central):
    transfer_send(central, from_branch=linked, to_branch=OTHER, lines=[{"sku": "LAC-LECHE-1L", "quantity": "2"}])
    incoming = transfer_send(central, to_branch=linked, lines=[{"sku": "FRU-BANANA", "quantity": "3.5"}])
    changes_pull()
    received = link_receipt(incoming["id"], "FRU-BANANA", "3.5")

    SyncState.objects.filter(pk=1).update(pull_cursor=0)  # e.g. a box restored with a cursor lost
    again = changes_pull()

    assert received
    assert again.applied == 0 and again.already_applied >= 2
    assert on_hand("LAC-LECHE-1L") == "3.000"
    assert on_hand("FRU-BANANA") == "13.500"
    assert OutboxEvent.objects.filter(type="stock.adjusted").count() == 1
    assert list(IncomingTransfer.objects.values_list("state", flat=True)) == ["received"]


def link_receipt(transfer_id: str, sku: str, quantity: str) -> bool:
    from decimal import Decimal

    from inventory.services import Line, stock_receipt_record

    _, created = stock_receipt_record(
        receipt_id=None, transfer_id=transfer_id, lines=[Line(sku=sku, quantity=Decimal(quantity))], user=None
    )
    return created


@pytest.mark.parametrize("lost", [1, 2], ids=["cursor_changed", "cursor_ahead"])
def test_a_branch_ahead_of_a_restored_central_starts_over_and_applies_each_change_once(
    linked, shelf, central, cashier_client, lost
):
    transfer_send(central, from_branch=linked, to_branch=OTHER, lines=[{"sku": "LAC-LECHE-1L", "quantity": "1"}])
    changes_pull()
    backup = central.central_sql("SELECT max(id) FROM branches_change")[0][0]
    for price in ["2.01", "2.02"][:lost]:
        price_set(central, "FRU-NARANJA", price)  # changes the branch applies, then central loses
    changes_pull()
    # Central restored from the backup: the later changes are gone, and their ids are handed out again.
    central.central_sql("DELETE FROM branches_change WHERE id > %s RETURNING id", backup)
    central.central_sql("SELECT setval(pg_get_serial_sequence('branches_change', 'id'), %s)", backup)
    price_set(central, "FRU-NARANJA", "2.50")

    summary = changes_pull()

    assert summary.resyncs == 1
    assert str(Product.objects.get(sku="FRU-NARANJA").price) == "2.50"
    assert on_hand("LAC-LECHE-1L") == "4.000"  # the adjustment pulled again is not applied again
    assert OutboxEvent.objects.filter(type="stock.adjusted").count() == 1
    state = SyncState.objects.get()
    assert state.last_pull_resync_reason == ("cursor_changed" if lost == 1 else "cursor_ahead")
    assert cashier_client.get("/api/v1/sync/status").json()["last_pull_resync_at"] is not None


def test_a_push_task_pulls_too_when_no_pull_ran_for_a_while(linked, shelf, central, settings):
    settings.SYNC_PULL_INTERVAL_S = 10.0
    price_set(central, "VER-PAPA", "1.23")
    SyncState.objects.update_or_create(pk=1, defaults={"last_pull_at": timezone.now() - timedelta(seconds=5)})
    recent = outbox_push_task()
    SyncState.objects.filter(pk=1).update(last_pull_at=timezone.now() - timedelta(seconds=60))

    overdue = outbox_push_task()

    assert "pull" not in recent
    assert overdue["pull"]["applied"] >= 1
    assert str(Product.objects.get(sku="VER-PAPA").price) == "1.23"
