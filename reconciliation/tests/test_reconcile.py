"""The reconciliation job on PostgreSQL (docs/architecture.md, "Reconciliation")."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from branches.credentials import branch_credential_revoke
from branches.models import Branch, BranchEvent, Change
from branches.tests.factories import Events, branch_client, push, snapshot
from inventory.models import Unit
from inventory.tests.factories import product_make
from reconciliation.actions import oversell_case_act
from reconciliation.models import BranchCheck, CaseAction, Discrepancy, OversellCase, SeqWatch
from reconciliation.selectors import branch_health
from reconciliation.services import reconcile

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def catalog(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)


@pytest.fixture
def b001(catalog):
    client, _ = branch_client("B001")
    return client, Events("B001")


def open_records(kind: str) -> list[Discrepancy]:
    return list(Discrepancy.objects.filter(kind=kind, status__in=["open", "acknowledged"]))


def footprint() -> tuple:
    return (
        list(Discrepancy.objects.order_by("id").values_list("id", "status", "last_changed_at")),
        CaseAction.objects.count(),
        list(OversellCase.objects.order_by("id").values_list("id", "updated_at")),
        Change.objects.count(),
        SeqWatch.objects.count(),
    )


def test_a_late_event_never_produces_a_false_count_mismatch(b001):
    client, stream = b001
    received, sale = stream.received(FRU_BANANA="10"), stream.sale(FRU_BANANA="2")
    snap = snapshot(stream, 2, FRU_BANANA="8.000")

    push(client, [received, snap])  # the sale is late: central's ledger up to 2 would say 10
    reconcile(full=True)
    assert open_records("count_mismatch") == []
    push(client, [sale])
    reconcile()

    assert open_records("count_mismatch") == []


def snapshot_parts(stream: Events, as_of: int, *parts: dict) -> list[dict]:
    """A snapshot written in parts, each a dict of levels (the events right after ``as_of``)."""
    return [
        stream.make(
            "stock.snapshot",
            {
                "as_of_seq": as_of,
                "levels": [{"sku": s.replace("_", "-"), "on_hand": q} for s, q in levels.items()],
                "part": number,
                "parts": len(parts),
            },
        )
        for number, levels in enumerate(parts, start=1)
    ]


def test_a_snapshot_in_parts_is_judged_once_every_part_is_held_and_each_parts_skus_count(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="10", LAC_LECHE_1L="4"), stream.sale(LAC_LECHE_1L="1")])
    first, second = snapshot_parts(stream, 2, {"FRU_BANANA": "10.000"}, {"LAC_LECHE_1L": "2"})

    push(client, [first])  # alone, LAC-LECHE-1L would look gone: not judged yet
    reconcile(full=True)
    assert open_records("count_mismatch") == []
    assert BranchCheck.objects.get(branch="B001").snapshot_seq is None
    push(client, [second])
    reconcile()

    [record] = open_records("count_mismatch")
    assert (record.sku, record.expected, record.actual) == ("LAC-LECHE-1L", Decimal("3"), Decimal("2"))
    assert BranchCheck.objects.get(branch="B001").snapshot_seq == second["seq"]


def test_a_count_mismatch_is_flagged_once_and_auto_resolved_by_a_later_snapshot(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="10"), stream.sale(FRU_BANANA="2")])
    push(client, [snapshot(stream, 2, FRU_BANANA="7.500")])

    reconcile()
    reconcile()
    [record] = open_records("count_mismatch")
    assert (record.sku, record.expected, record.actual) == ("FRU-BANANA", Decimal("8"), Decimal("7.5"))
    assert record.detail["difference"] == "-0.500"
    push(client, [snapshot(stream, 3, FRU_BANANA="8.000")])
    reconcile()

    record.refresh_from_db()
    assert record.status == "auto_resolved"
    assert [a.action for a in record.actions.all()] == ["detected", "auto_resolved"]


def test_running_twice_changes_nothing_the_second_time(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1"), stream.sale(FRU_BANANA="3"), stream.received(LAC_LECHE_1L="2")])
    push(client, [snapshot(stream, 3, FRU_BANANA="-1.000", LAC_LECHE_1L="3")])

    first = reconcile(full=True)
    after_first = footprint()
    second = reconcile(full=True)

    assert first.summary["opened"] == {"count_mismatch": 2, "oversell": 1}
    assert footprint() == after_first
    assert second.summary["opened"] == {} and second.summary["updated"] == {}
    assert second.summary["auto_resolved"] == {} and second.summary["oversell_cases_updated"] == 0


def test_a_gap_gets_a_resend_request_then_a_discrepancy_then_resolves_when_it_arrives(b001):
    client, stream = b001
    events = [stream.received(FRU_BANANA="10"), stream.sale(FRU_BANANA="1"), stream.sale(FRU_BANANA="1")]
    push(client, [events[0], events[2]])
    grace = timedelta(seconds=settings.RECONCILE_GAP_GRACE_S + 1)
    t0 = timezone.now()

    reconcile(now=t0)
    assert Change.objects.filter(kind="resend").count() == 0  # within the grace period: it may be on its way
    reconcile(now=t0 + grace)
    assert list(Change.objects.filter(kind="resend").values_list("payload", flat=True)) == [{"seqs": [2]}]
    assert open_records("missing_events") == []
    reconcile(now=t0 + 2 * grace)
    [record] = open_records("missing_events")
    assert record.detail == {"seqs": [2], "count": 1}
    push(client, [events[1]])
    reconcile(now=t0 + 3 * grace)

    record.refresh_from_db()
    assert record.status == "auto_resolved"
    assert SeqWatch.objects.count() == 0


def test_selling_into_negative_opens_an_oversell_case_naming_the_sales(b001):
    client, stream = b001
    received = stream.received(FRU_BANANA="2")
    ok_sale = stream.sale(FRU_BANANA="1")
    short_sale = stream.sale(FRU_BANANA="2.5")
    push(client, [received, ok_sale, short_sale])

    reconcile()

    case = OversellCase.objects.get()
    assert (case.branch_id, case.sku, case.status, case.shortfall, case.source) == (
        "B001",
        "FRU-BANANA",
        "open",
        Decimal("1.5"),
        "sold_below_zero",
    )
    assert case.sales == [
        {
            "sale_id": short_sale["payload"]["sale_id"],
            "number": short_sale["payload"]["number"],
            "seq": 3,
            "occurred_at": case.sales[0]["occurred_at"],
            "quantity": "2.500",
            "oversold": "1.500",
            "cashier": "carla",
        }
    ]
    assert [r.sku for r in open_records("oversell")] == ["FRU-BANANA"]


def test_two_episodes_between_passes_both_name_their_customers(b001):
    """A store back from a day offline: below zero in the morning, restocked, below zero again in the evening."""
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1")])
    reconcile()
    morning = stream.sale(FRU_BANANA="2")  # 1 -> -1
    restock = stream.received(FRU_BANANA="5")  # -> 4
    evening = stream.sale(FRU_BANANA="6")  # -> -2
    push(client, [morning, restock, evening])

    reconcile()

    case = OversellCase.objects.get()
    assert [(s["sale_id"], s["oversold"]) for s in case.sales] == [
        (morning["payload"]["sale_id"], "1.000"),
        (evening["payload"]["sale_id"], "2.000"),
    ]
    assert reconcile(full=True).summary["oversell_cases_updated"] == 0  # the whole ledger says the same


def test_stock_back_above_zero_resolves_the_discrepancy_but_not_the_customer_follow_up(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1"), stream.sale(FRU_BANANA="3")])
    reconcile()
    push(client, [stream.received(FRU_BANANA="10")])

    reconcile()

    assert open_records("oversell") == []
    assert OversellCase.objects.get().status == "open"


def test_a_head_office_adjustment_the_stock_cannot_cover_opens_a_case(b001):
    client, stream = b001
    events = [stream.received(LAC_LECHE_1L="5"), stream.sale(LAC_LECHE_1L="1")]
    events.append(
        stream.make("stock.adjusted", {"reason": "transfer", "lines": [{"sku": "LAC-LECHE-1L", "delta": "-8"}]})
    )
    push(client, events)

    reconcile()

    case = OversellCase.objects.get()
    assert (case.sku, case.shortfall, case.source, case.sales) == (
        "LAC-LECHE-1L",
        Decimal("4"),
        "adjustment_or_transfer",
        [],
    )


def test_a_count_lower_than_what_was_sold_since_names_the_sales_after_it(b001):
    client, stream = b001
    received = stream.received(FRU_BANANA="10")
    count = stream.count("FRU-BANANA", "1.000", "10.000")
    sale = stream.sale(FRU_BANANA="3")
    push(client, [received, count, sale])

    reconcile()

    case = OversellCase.objects.get()
    assert [s["sale_id"] for s in case.sales] == [sale["payload"]["sale_id"]]
    assert case.shortfall == Decimal("2")


def test_a_silent_branch_is_flagged_stale_and_cleared_when_it_calls_again(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1")])
    later = timezone.now() + timedelta(seconds=settings.RECONCILE_STALE_AFTER_S + 5)

    reconcile(now=later)
    [record] = open_records("stale_branch")
    Branch.objects.filter(code="B001").update(last_seen_at=later)
    reconcile(now=later)

    record.refresh_from_db()
    assert record.status == "auto_resolved"


def test_a_rejected_event_is_a_hole_for_a_manager(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1"), stream.sale(NO_SUCH="1")])

    reconcile()

    [record] = open_records("rejected_event")
    assert record.detail["events"][0]["code"] == "unknown_sku"


def test_incremental_pass_only_rechecks_branches_with_new_events_and_full_finds_the_rest(b001):
    client, stream = b001
    other, _ = branch_client("B002")
    other_stream = Events("B002")
    push(client, [stream.received(FRU_BANANA="5"), snapshot(stream, 1, FRU_BANANA="5.000")])
    push(other, [other_stream.received(FRU_BANANA="5"), snapshot(other_stream, 1, FRU_BANANA="5.000")], branch="B002")
    reconcile(full=True)
    # Corrupt central's view of B002 behind the job's back: only a full pass looks at an untouched branch.
    from inventory.models import StockMovement

    StockMovement.objects.filter(branch="B002").update(quantity=Decimal("4"))
    push(client, [stream.sale(FRU_BANANA="1")])

    incremental = reconcile()
    full = reconcile(full=True)

    assert incremental.summary["opened"] == {}
    assert full.summary["opened"] == {"count_mismatch": 1}


# ----------------------------------------------------------------------------------------------------------------
# Oversell episodes
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arrival", ["one batch", "two batches", "late"])
def test_a_dip_below_zero_that_recovered_before_the_pass_is_still_found(b001, arrival):
    client, stream = b001
    received, sale, restock = (
        stream.received(FRU_BANANA="1"),
        stream.sale(FRU_BANANA="3"),
        stream.received(FRU_BANANA="5"),
    )
    batches = {
        "one batch": [[received], [sale, restock]],
        "two batches": [[received], [sale], [restock]],
        "late": [[received, restock], [sale]],  # the sale (seq 2) arrives after the restock (seq 3)
    }[arrival]
    push(client, batches[0])
    reconcile()  # from here on the passes are incremental
    for batch in batches[1:]:
        push(client, batch)

    assert not reconcile().full

    case = OversellCase.objects.get()
    assert [s["sale_id"] for s in case.sales] == [sale["payload"]["sale_id"]]
    assert (case.shortfall, case.source) == (Decimal("2"), "sold_below_zero")
    assert open_records("oversell") == []  # the stock is back: nothing to count, but a customer to follow up


def test_a_case_names_the_sales_of_the_current_episode_less_voided_and_answered_ones(b001, manager):
    client, stream = b001
    received = stream.received(FRU_BANANA="1")
    first = stream.sale(FRU_BANANA="2")
    push(client, [received, first])
    reconcile()
    answered = OversellCase.objects.get()
    oversell_case_act(case_id=answered.pk, action="resolve", user=manager, resolution="refunded")
    push(client, [stream.received(FRU_BANANA="5")])
    reconcile(full=True)
    assert OversellCase.objects.count() == 1  # the answered episode is not opened again
    short = stream.sale(FRU_BANANA="5")  # 4 -> -1: a new episode
    voided = stream.sale(FRU_BANANA="1")
    void = stream.void(voided["payload"]["sale_id"])
    last = stream.sale(FRU_BANANA="1")  # down to -2
    push(client, [short, voided, void, last])

    reconcile()
    again = reconcile(full=True)

    case = OversellCase.objects.exclude(pk=answered.pk).get()
    assert [s["sale_id"] for s in case.sales] == [short["payload"]["sale_id"], last["payload"]["sale_id"]]
    assert (case.status, case.source, case.shortfall) == ("open", "sold_below_zero", Decimal("2"))
    assert again.summary["oversell_cases_opened"] == 0 and again.summary["oversell_cases_updated"] == 0


# ----------------------------------------------------------------------------------------------------------------
# Late data, bad data, noise
# ----------------------------------------------------------------------------------------------------------------


def test_a_count_verdict_is_recomputed_when_an_event_below_its_snapshot_arrives_later(b001):
    client, stream = b001
    sale = stream.sale(FRU_BANANA="2", NEW_SKU="1")  # rejected: the catalog has not caught up yet
    push(client, [stream.received(FRU_BANANA="10"), sale, snapshot(stream, 2, FRU_BANANA="8.000", NEW_SKU="-1")])
    reconcile()
    assert sorted(r.sku for r in open_records("count_mismatch")) == ["FRU-BANANA", "NEW-SKU"]
    product_make(sku="NEW-SKU", unit=Unit.UNIT)
    push(client, [sale])  # the parked event, re-sent once its cause was fixed

    reconcile()

    assert open_records("count_mismatch") == []


@pytest.mark.parametrize(
    "payload",
    [
        {"as_of_seq": 0, "levels": [{"sku": "FRU-BANANA"}]},
        {"as_of_seq": 0, "levels": [{"on_hand": "1.000"}]},
        {"as_of_seq": 0, "levels": [{"sku": "FRU-BANANA", "on_hand": "lots"}]},
        {"as_of_seq": 0, "levels": ["FRU-BANANA"]},
        {"as_of_seq": 0, "levels": [{"sku": "FRU-BANANA", "on_hand": "1"}, {"sku": "FRU-BANANA", "on_hand": "2"}]},
        {"as_of_seq": True, "levels": []},
        {"as_of_seq": 5, "levels": []},
    ],
    ids=["no on_hand", "no sku", "on_hand not a number", "level not an object", "sku twice", "bool", "ahead"],
)
def test_a_malformed_snapshot_is_rejected_at_ingest(b001, payload):
    client, stream = b001
    bad = stream.make("stock.snapshot", payload)

    response = push(client, [bad, stream.received(FRU_BANANA="1")])

    assert response.status_code == 200
    assert [r["code"] for r in response.json()["rejected"]] == ["invalid_payload"]
    assert response.json()["accepted"] == 1


def unreadable_snapshot_store(code: str, *, new_batch: bool) -> None:
    """A snapshot (seq 2) stored before ingest validated its levels: the branch's count check cannot read it. With
    ``new_batch``, stored as a batch of its own (a new ingest mark), as if pushed after the last pass."""
    branch = Branch.objects.get(code=code)
    mark = branch.ingest_mark + new_batch
    BranchEvent.objects.create(
        id=uuid.uuid4(),
        branch_id=code,
        seq=2,
        type="stock.snapshot",
        occurred_at=timezone.now(),
        schema=1,
        payload={"as_of_seq": 1, "levels": [{"sku": "FRU-BANANA"}]},
        body_hash="",
        received_at=timezone.now(),
        ingest_mark=mark,
    )
    Branch.objects.filter(code=code).update(high_water_seq=2, max_seq_seen=2, ingest_mark=mark)


def test_a_check_failing_for_one_branch_is_recorded_for_it_and_the_others_are_checked(b001, client, manager):
    client, stream = b001
    other, _ = branch_client("B002")
    other_stream = Events("B002")
    push(other, [other_stream.received(FRU_BANANA="1")], branch="B002")
    unreadable_snapshot_store("B002", new_batch=False)
    push(client, [stream.received(FRU_BANANA="10"), snapshot(stream, 1, FRU_BANANA="9.000")])

    run = reconcile()

    assert [r.branch_id for r in open_records("count_mismatch")] == ["B001"]
    assert set(run.summary["failed"]) == {"B002"}
    [row] = [row for row in branch_health() if row["branch"].code == "B002"]
    assert row["check_error"] == "KeyError: 'on_hand'"
    client.force_login(manager)
    assert "falló el control" in client.get("/dashboard/").content.decode()
    assert reconcile().summary["failed"] == {"B002": "KeyError: 'on_hand'"}


def test_a_revoked_branch_is_never_reported_stale(b001):
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1")])
    later = timezone.now() + timedelta(seconds=settings.RECONCILE_STALE_AFTER_S + 5)
    reconcile(now=later)
    [record] = open_records("stale_branch")
    branch_credential_revoke(code="B001")

    reconcile(now=later + timedelta(days=30))

    record.refresh_from_db()
    assert record.status == "auto_resolved"
    assert open_records("stale_branch") == []


def test_an_incremental_pass_locks_only_the_branches_with_something_to_write(b001):
    """At 500 stores the per-branch transaction and row lock were most of an incremental pass: a quiet branch is
    looked at from the row the pass read, a busy one whose checks find nothing (settled) from a few queries for all
    of them, and only one with something to write (here an oversold sale, a silent branch) under its lock."""
    client, stream = b001
    push(client, [stream.received(FRU_BANANA="10")])
    others = {}
    for code in ("B002", "B003", "B004"):
        other, _ = branch_client(code)
        others[code] = (other, Events(code))
        push(other, [others[code][1].received(FRU_BANANA="5")], branch=code)
    reconcile()

    push(client, [stream.sale(FRU_BANANA="11")])
    push(others["B002"][0], [others["B002"][1].sale(FRU_BANANA="1")], branch="B002")
    Branch.objects.filter(code="B003").update(last_seen_at=timezone.now() - timedelta(days=30))
    with CaptureQueriesContext(connection) as queries:
        run = reconcile()

    locked = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"] and "branches_branch" in q["sql"]]
    assert len(locked) == 2 and "'B001'" in locked[0] and "'B003'" in locked[1]
    assert run.summary["branches_checked"] == 4
    assert [r.branch_id for r in open_records("stale_branch")] == ["B003"]
    assert [r.branch_id for r in open_records("oversell")] == ["B001"]
    assert BranchCheck.objects.get(branch="B002").ingest_mark == Branch.objects.get(code="B002").ingest_mark


# ----------------------------------------------------------------------------------------------------------------
# Every store selling: the busy branches a pass checks together
# ----------------------------------------------------------------------------------------------------------------


def selling_chain(codes: list[str]) -> dict:
    """Branches that received stock and were checked once, then each sold and counted what it holds."""
    chain = {}
    for code in codes:
        client, _ = branch_client(code)
        stream = Events(code)
        chain[code] = (client, stream)
        push(client, [stream.received(FRU_BANANA="10", LAC_LECHE_1L="4")], branch=code)
    reconcile()
    for code, (client, stream) in chain.items():
        push(client, [stream.sale(FRU_BANANA="1.5"), snapshot(stream, 2, FRU_BANANA="8.500", LAC_LECHE_1L="4")], code)
    return chain


def test_busy_healthy_branches_are_checked_without_a_lock_in_as_many_queries_for_nine_as_for_three(catalog):
    def checked(codes: list[str]) -> list[str]:
        selling_chain(codes)
        with CaptureQueriesContext(connection) as queries:
            run = reconcile()
        assert run.summary["branches_checked"] == Branch.objects.count() and not run.summary["failed"]
        assert run.summary["opened"] == {} and run.summary["oversell_cases_opened"] == 0
        return [q["sql"] for q in queries.captured_queries]

    three = checked(["B101", "B102", "B103"])
    nine = checked([f"B2{n:02}" for n in range(9)])

    assert len(nine) == len(three)
    assert not [sql for sql in three + nine if "FOR UPDATE" in sql]
    # Each one's check now stands at its mark, its snapshot judged: the next pass has nothing to look at.
    for check in BranchCheck.objects.select_related("branch"):
        assert (check.ingest_mark, check.snapshot_seq) == (check.branch.ingest_mark, 3)
    with CaptureQueriesContext(connection) as queries:
        reconcile()
    assert not [q for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]


@pytest.mark.parametrize("news", ["a count that differs", "a sale below zero", "an event under a judged count"])
def test_what_a_busy_branch_brings_is_found_among_the_settled_ones(catalog, news):
    chain = selling_chain(["B101", "B102", "B103"])
    reconcile()
    client, stream = chain["B102"]
    parked = stream.sale(NEW_SKU="1") if news == "an event under a judged count" else None  # rejected at first
    arrivals = {
        "a count that differs": lambda: [
            stream.sale(FRU_BANANA="1"),
            snapshot(stream, 4, FRU_BANANA="7.000", LAC_LECHE_1L="4"),
        ],
        "a sale below zero": lambda: [stream.sale(LAC_LECHE_1L="5")],
        "an event under a judged count": lambda: [parked, snapshot(stream, 4, FRU_BANANA="8.500", LAC_LECHE_1L="4")],
    }[news]()
    push(client, arrivals, "B102")
    for code in ("B101", "B103"):
        push(chain[code][0], [chain[code][1].sale(FRU_BANANA="1")], code)
    reconcile()
    if news == "an event under a judged count":
        assert open_records("count_mismatch") == []  # judged without the parked sale: they agree
        product_make(sku="NEW-SKU", unit=Unit.UNIT)
        push(client, [parked], "B102")  # re-sent once its cause was fixed: the count no longer agrees
        reconcile()

    found = {
        "a count that differs": ("count_mismatch", "FRU-BANANA"),  # 7.5 on central's ledger
        "a sale below zero": ("oversell", "LAC-LECHE-1L"),
        "an event under a judged count": ("count_mismatch", "NEW-SKU"),
    }[news]
    assert [(r.kind, r.branch_id, r.sku) for r in open_records(found[0])] == [(found[0], "B102", found[1])]


def test_a_batch_stored_after_the_pass_read_the_chain_is_looked_at_by_the_next_pass(b001, monkeypatch):
    from reconciliation import services

    client, stream = b001
    push(client, [stream.received(FRU_BANANA="1")])
    reconcile()
    push(client, [stream.sale(FRU_BANANA="0.5")])
    oversold = stream.sale(FRU_BANANA="3")
    screen = services._screen

    def screen_then_a_batch(**kwargs):
        settled = screen(**kwargs)
        push(client, [oversold])  # committed after the pass's snapshot: not among what it judged
        return settled

    monkeypatch.setattr(services, "_screen", screen_then_a_batch)
    first = reconcile()
    monkeypatch.undo()
    second = reconcile()

    assert (first.summary["oversell_cases_opened"], second.summary["oversell_cases_opened"]) == (0, 1)
    assert [sale["sale_id"] for sale in OversellCase.objects.get().sales] == [oversold["payload"]["sale_id"]]


def test_a_busy_branch_whose_snapshot_cannot_be_read_fails_alone(b001):
    client, stream = b001
    other, _ = branch_client("B002")
    other_stream = Events("B002")
    push(other, [other_stream.received(FRU_BANANA="1")], branch="B002")
    push(client, [stream.received(FRU_BANANA="1")])
    reconcile()
    unreadable_snapshot_store("B002", new_batch=True)  # after the last pass
    push(client, [stream.sale(FRU_BANANA="3")])

    run = reconcile()
    push(client, [stream.received(FRU_BANANA="5")])
    again = reconcile()

    assert run.summary["failed"] == again.summary["failed"] == {"B002": "KeyError: 'on_hand'"}
    assert run.summary["oversell_cases_opened"] == 1 and OversellCase.objects.get().branch_id == "B001"
    assert again.summary["auto_resolved"] == {"oversell": 1}  # B001, checked all the same
