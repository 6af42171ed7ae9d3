"""Reconciliation against what runs beside it, on two or more real PostgreSQL connections."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from branches.change_feed import resend_request_create, transfer_create
from branches.ingest import events_ingest
from branches.models import Branch, Change
from branches.tests.factories import Events, branch_client, on_hand, push
from ecomarket.errors import DomainError
from harness.processes import poll
from inventory.ledger import stock_levels_rebuild
from inventory.models import StockLevel, Unit
from inventory.tests.factories import product_make
from reconciliation.actions import discrepancy_act
from reconciliation.models import Discrepancy, OversellCase, ReconciliationRun
from reconciliation.services import RUN_LOCK_KEY, reconcile
from reconciliation.tests.concurrency import TIMEOUT, Blocker, Worker, wait_until_waiting, waiting

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db(transaction=True)]

BRANCH_ROW_LOCK = "SELECT 1 FROM branches_branch WHERE code = 'B001' FOR UPDATE"


@pytest.fixture
def chain(transactional_db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    b001, _ = branch_client("B001")
    b002, _ = branch_client("B002")
    return (b001, Events("B001")), (b002, Events("B002"))


def test_a_batch_that_commits_after_a_faster_one_is_still_seen_by_the_next_incremental_pass(chain, monkeypatch):
    (b001, stream), (b002, other) = chain
    push(b001, [stream.received(FRU_BANANA="1")])
    push(b002, [other.received(FRU_BANANA="1")], branch="B002")
    reconcile(full=True)
    # B001's batch reads the clock, then stalls (a slow request) while B002's batch commits after it.
    stalled, resume, clock = threading.Event(), threading.Event(), timezone.now

    def stalling_clock():
        value = clock()
        if threading.current_thread().name == "slow batch" and not resume.is_set():
            stalled.set()
            resume.wait(TIMEOUT)
        return value

    monkeypatch.setattr(timezone, "now", stalling_clock)
    oversold = stream.sale(FRU_BANANA="3")
    slow = Worker(lambda: events_ingest(branch=Branch.objects.get(code="B001"), events=[oversold]), "slow batch")
    slow.start()
    assert stalled.wait(TIMEOUT)
    push(b002, [other.sale(FRU_BANANA="1")], branch="B002")
    reconcile()  # runs while B001's batch is still on its way
    resume.set()
    slow.outcome()

    reconcile()

    case = OversellCase.objects.get(branch="B001")
    assert [sale["sale_id"] for sale in case.sales] == [oversold["payload"]["sale_id"]]


def test_a_batch_delayed_between_taking_its_mark_and_committing_is_not_skipped(chain):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="1")])
    reconcile(full=True)
    # The batch has its mark (it holds the branch lock) and waits on the SKU's level row before it commits.
    blocker = Blocker("SELECT 1 FROM inventory_stocklevel WHERE branch = 'B001' AND sku = 'FRU-BANANA' FOR UPDATE")
    oversold = stream.sale(FRU_BANANA="3")
    try:
        ingest = Worker(lambda: events_ingest(branch=Branch.objects.get(code="B001"), events=[oversold]))
        ingest.start()
        wait_until_waiting(1)
        # The branch's committed row shows nothing new since the last pass: the pass looks at it without its lock,
        # does not wait for the batch, and leaves its checked mark where it was (so the batch is not skipped).
        pass_ = Worker(reconcile)
        pass_.start()
        pass_.join(TIMEOUT)
        assert not pass_.is_alive()
        assert pass_.result.summary["oversell_cases_opened"] == 0
    finally:
        blocker.release()
    ingest.outcome()
    pass_.outcome()
    reconcile()

    assert [sale["sale_id"] for sale in OversellCase.objects.get().sales] == [oversold["payload"]["sale_id"]]


def test_an_incremental_pass_exits_cleanly_while_another_pass_runs(chain):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="1"), stream.sale(FRU_BANANA="3")])
    blocker = Blocker("SELECT pg_advisory_lock(%s)", [RUN_LOCK_KEY])
    try:
        skipped = reconcile()
    finally:
        blocker.release()

    assert skipped is None
    assert (ReconciliationRun.objects.count(), Discrepancy.objects.count(), OversellCase.objects.count()) == (0, 0, 0)
    assert reconcile().summary["oversell_cases_opened"] == 1


def test_a_full_pass_waits_for_the_running_pass_then_runs(chain):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="1"), stream.sale(FRU_BANANA="3")])
    blocker = Blocker("SELECT pg_advisory_lock(%s)", [RUN_LOCK_KEY])
    try:
        full = Worker(lambda: reconcile(full=True))
        full.start()
        wait_until_waiting(1)
        assert ReconciliationRun.objects.count() == 0
    finally:
        blocker.release()

    assert full.outcome().summary["oversell_cases_opened"] == 1


def test_two_passes_started_together_never_collide(chain):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="1"), stream.sale(FRU_BANANA="3")])
    blocker = Blocker(BRANCH_ROW_LOCK)  # holds both passes at the first branch, so they truly overlap
    try:
        passes = [Worker(lambda: reconcile(full=True), f"pass {n}") for n in (1, 2)]
        for worker in passes:
            worker.start()
        wait_until_waiting(2)
    finally:
        blocker.release()
    runs = [worker.outcome() for worker in passes]

    assert sorted(run.summary["oversell_cases_opened"] for run in runs) == [0, 1]
    assert Discrepancy.objects.filter(kind="oversell").count() == 1


def test_a_pass_never_overwrites_what_a_manager_resolved_while_it_ran(chain, manager):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="1")])
    reconcile(now=timezone.now() + timedelta(seconds=settings.RECONCILE_STALE_AFTER_S + 5))
    record = Discrepancy.objects.get(kind="stale_branch", branch="B001")
    blocker = Blocker(BRANCH_ROW_LOCK)
    try:
        pass_ = Worker(reconcile)  # now the branch is in contact: the pass would auto-resolve the record
        pass_.start()
        wait_until_waiting(1)
        act = Worker(
            lambda: discrepancy_act(discrepancy_id=record.pk, action="resolve", user=manager, note="phoned the store")
        )
        act.start()
        poll(lambda: waiting() >= 2 or not act.is_alive(), timeout=TIMEOUT, what="the manager's action queued or done")
    finally:
        blocker.release()
    pass_.outcome()
    act.join(TIMEOUT)
    assert act.error is None or (isinstance(act.error, DomainError) and act.error.code == "action_refused")

    record.refresh_from_db()
    actions = list(record.actions.order_by("id").values_list("action", flat=True))
    if "resolve" in actions:  # the manager came first: what they did stands
        assert (record.status, record.resolved_by, actions[-1]) == ("resolved", manager.username, "resolve")
    else:  # the job came first: the manager was told the record is already closed
        assert (record.status, actions[-1]) == ("auto_resolved", "auto_resolved")


def _lock_order_setup():
    """B001 has a gap whose resend request is due and a missing-events discrepancy the next pass will update."""
    grace = timedelta(seconds=settings.RECONCILE_GAP_GRACE_S + 1)
    client, stream = branch_client("B001")[0], Events("B001")
    events = [stream.received(FRU_BANANA="10"), *[stream.sale(FRU_BANANA="1") for _ in range(4)]]
    t0 = timezone.now() - 6 * grace
    push(client, [events[0], events[2]])
    for step in range(3):
        reconcile(now=t0 + step * grace)
    push(client, [events[4]])  # a second gap (seq 4)
    reconcile(now=t0 + 3 * grace)
    record = Discrepancy.objects.get(kind="missing_events")
    Discrepancy.objects.filter(pk=record.pk).update(detail={})
    return record


def _actors(record, manager):
    b001, b002 = Branch.objects.get(code="B001"), Branch.objects.get(code="B002")
    return {
        "reconcile": lambda: reconcile(),
        "resend request": lambda: resend_request_create(branch=b001, seqs=[2]),
        "transfer": lambda: transfer_create(to_branch=b001, from_branch=b002, lines=[("FRU-BANANA", Decimal("1"))]),
        "manager action": lambda: discrepancy_act(
            discrepancy_id=record.pk, action="adjust_stock", user=manager, delta=Decimal("1"), sku="FRU-BANANA"
        ),
    }


PAIRS = [
    (first, second)
    for first in ("reconcile", "resend request", "transfer", "manager action")
    for second in ("reconcile", "resend request", "transfer", "manager action")
    if first != second
]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_no_pair_of_lock_takers_deadlocks(chain, manager, first, second):
    """Both queue behind a transaction holding the change feed's lock, the first one first; when it lets go, both
    must get through (PostgreSQL would abort one of them on a lock-order cycle)."""
    record = _lock_order_setup()
    actors = _actors(record, manager)
    changes_before = Change.objects.count()
    blocker = Blocker(f"LOCK TABLE {Change._meta.db_table} IN EXCLUSIVE MODE")
    try:
        workers = []
        for count, name in enumerate((first, second), start=1):
            workers.append(Worker(actors[name], name))
            workers[-1].start()
            wait_until_waiting(count)
    finally:
        blocker.release()
    for worker in workers:
        worker.outcome()

    assert Change.objects.count() > changes_before


def test_rebuilding_levels_never_loses_an_ingest_committing_meanwhile(chain):
    (b001, stream), _ = chain
    push(b001, [stream.received(FRU_BANANA="10")])
    StockLevel.objects.filter(branch="B001").update(on_hand=Decimal("999"))  # drifted: the rebuild has work to do
    blocker = Blocker("SELECT 1 FROM inventory_stocklevel WHERE branch = 'B001' AND sku = 'FRU-BANANA' FOR UPDATE")
    try:
        ingest = Worker(lambda: push(b001, [stream.received(FRU_BANANA="5")]))
        ingest.start()
        wait_until_waiting(1)
        rebuild = Worker(stock_levels_rebuild)
        rebuild.start()
        wait_until_waiting(2)
    finally:
        blocker.release()
    assert ingest.outcome().status_code == 200
    rebuild.outcome()

    assert on_hand()["FRU-BANANA"] == Decimal("15")
