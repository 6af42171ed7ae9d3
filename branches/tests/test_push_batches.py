"""The push never sends a body central will refuse, and never resends a refused batch for ever (docs/protocol.md: no
batch that is too large may stop a branch's sync)."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from branches.models import OutboxEvent
from branches.push import _batch_body, _batches
from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch")]


def event(seq: int, levels: int) -> OutboxEvent:
    return OutboxEvent(
        id=uuid.uuid4(),
        seq=seq,
        type="stock.snapshot",
        occurred_at=datetime(2026, 11, 29, 12, tzinfo=UTC),
        payload={"as_of_seq": seq - 1, "levels": [{"sku": f"S-{i:05d}", "on_hand": "1.000"} for i in range(levels)]},
    )


@override_settings(SYNC_BATCH_MAX_BYTES=10_000)
def test_batches_stay_under_the_byte_bound_and_an_event_over_it_travels_as_its_stand_in():
    events = [event(1, 50), event(2, 50), event(3, 400), event(4, 50), event(5, 50), event(6, 50)]

    batches = _batches(events)

    sent = [item for batch in batches for item in batch]
    assert [item.event.seq for item in sent] == [1, 2, 3, 4, 5, 6]
    assert [item.event.seq for item in sent if item.stand_in] == [3]
    stand_in = json.loads(next(item.body for item in sent if item.stand_in))
    assert (stand_in["id"], stand_in["seq"], stand_in["type"]) == (str(events[2].id), 3, "event.undeliverable")
    assert stand_in["payload"]["type"] == "stock.snapshot" and stand_in["payload"]["size"] > 10_000
    assert stand_in["payload"]["reason"].startswith("too_large")
    assert all(len(_batch_body(batch)) <= 10_000 for batch in batches)


# --------------------------------------------------------------------------------------------------------------
# Real processes
# --------------------------------------------------------------------------------------------------------------

SKUS = 3000
SNAPSHOTS = 20
CATALOG = (
    "from inventory.models import Product\n"
    f"Product.objects.bulk_create([Product(sku=f'BULK-{{i:05d}}', name=f'Bulk {{i}}', unit='unit', price='1.00') "
    f"for i in range({SKUS})], ignore_conflicts=True)\n"
)
STOCK = (
    "from decimal import Decimal\n"
    "from inventory.services import Line, stock_receipt_record\n"
    "stock_receipt_record(receipt_id=None, transfer_id=None, user=None, "
    f"lines=[Line(sku=f'BULK-{{i:05d}}', quantity=Decimal(10)) for i in range({SKUS})])\n"
)
SNAPSHOT = (
    f"from inventory.services import stock_snapshot_record\nfor _ in range({SNAPSHOTS}): stock_snapshot_record()\n"
)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    # B002 is misconfigured on purpose: its byte bound is above central's MAX_REQUEST_BODY_BYTES (2 MiB), so its
    # first batch is refused with 413 and must be split.
    chain = ProcessChain(
        tmp_path_factory.mktemp("batches"),
        branches=("B001", "B002"),
        branch_env={"B002": {"SYNC_BATCH_MAX_BYTES": str(8 * 1024 * 1024)}},
    )
    chain.prepare()
    chain.central.manage("shell", "-c", CATALOG)
    for node in chain.branch_nodes.values():
        node.manage("shell", "-c", CATALOG + STOCK)
    chain.start()
    yield chain
    chain.stop()


@pytest.mark.processes
@pytest.mark.mode("branch")
def test_twenty_hourly_snapshots_of_3000_skus_queued_offline_all_arrive_after_healing(chain):
    chain.wait_converged(timeout=90)
    for code, proxy in chain.proxies.items():
        proxy.set("refuse")
        chain.branch_nodes[code].manage("shell", "-c", SNAPSHOT)
        queued = chain.branch_sql(
            code, "SELECT count(*), sum(length(payload)) FROM branches_outboxevent WHERE state = 'pending'"
        )[0]
        assert queued[0] >= SNAPSHOTS and queued[1] > 2 * 1024 * 1024, queued  # more than central takes at once

    for proxy in chain.proxies.values():
        proxy.set("pass")

    for code in chain.branch_codes:
        poll(lambda code=code: chain.sync_status(code)["pending_events"] == 0, timeout=120, what=f"{code} drained")
        assert chain.sync_status(code)["parked_events"] == 0
        snapshots = chain.central_sql(
            "SELECT count(*) FROM branches_branchevent WHERE branch = %s AND type = 'stock.snapshot'", code
        )[0][0]
        assert snapshots >= SNAPSHOTS
        written, stored = chain.exactly_once(code)
        assert written == stored


BAD_EVENT = (
    "from django.db import transaction\n"
    "from django.utils import timezone\n"
    "from branches.outbox import outbox_event_append\n"
    "with transaction.atomic():\n"
    "    print('bad seq', outbox_event_append(type='stock.adjusted', payload=[], occurred_at=timezone.now()).seq)\n"
)


@pytest.mark.processes
@pytest.mark.mode("branch")
def test_a_batch_refused_as_a_whole_is_split_until_the_bad_event_is_parked_and_the_rest_arrive(chain):
    code = "B001"
    chain.wait_converged(timeout=90)
    chain.proxies[code].set("refuse")
    before = [chain.sell(code, "ALM-ARROZ-1K", "1").json()["id"] for _ in range(5)]
    bad_seq = int(chain.branch_nodes[code].manage("shell", "-c", BAD_EVENT).split()[-1])
    after = [chain.sell(code, "ALM-ARROZ-1K", "1").json()["id"] for _ in range(5)]

    chain.proxies[code].set("pass")

    poll(lambda: chain.sync_status(code)["pending_events"] == 0, timeout=60, what="B001 drained")
    parked = chain.branch_sql(code, "SELECT seq, last_error FROM branches_outboxevent WHERE state = 'parked'")
    assert [seq for seq, _ in parked] == [bad_seq]
    assert "undeliverable" in parked[0][1] and "invalid_event" in parked[0][1]
    sql = "SELECT payload->>'sale_id' FROM branches_branchevent WHERE branch = 'B001'"
    at_central = {row[0] for row in chain.central_sql(sql)}
    assert set(before + after) <= at_central
    # Central accounts the hole the parked event leaves: the high-water mark moves past it, so the reports fold
    # the five sales after it, and reconciliation names the seq and why for a manager.
    last_seq = chain.branch_sql(code, "SELECT max(seq) FROM branches_outboxevent")[0][0]
    assert chain.central_sql("SELECT high_water_seq FROM branches_branch WHERE code = 'B001'") == [(last_seq,)]
    assert chain.central_sql(
        "SELECT code FROM branches_eventproblem WHERE branch = 'B001' AND seq = %s AND kind = 'rejected'", bad_seq
    ) == [("undeliverable",)]
    chain.central.manage("report_rollup")
    chain.central.manage("reconcile")
    assert chain.central_sql("SELECT rolled_seq FROM reports_rollupcursor WHERE branch = 'B001'") == [(last_seq,)]
    [(detail,)] = chain.central_sql(
        "SELECT detail FROM reconciliation_discrepancy WHERE branch = 'B001' AND kind = 'rejected_event' "
        "AND status = 'open'"
    )
    assert [(e["seq"], e["code"]) for e in detail["events"]] == [(bad_seq, "undeliverable")]
    assert "invalid_event" in detail["events"][0]["why"]


BIG = 60_000
BIG_CATALOG = (
    "from inventory.models import Product\n"
    "Product.objects.bulk_create([Product(sku=f'BIG-{i:05d}', name=f'Big {i}', unit='unit', price='1.00') "
    f"for i in range({BIG})], batch_size=5000, ignore_conflicts=True)\n"
)
# A store's stock arrives in deliveries: 5,000 lines each, every one of them deliverable.
BIG_STOCK = (
    "from decimal import Decimal\n"
    "from django.db import transaction\n"
    "from inventory.services import Line, stock_receipt_record, stock_snapshot_record\n"
    f"for start in range(0, {BIG}, 5000):\n"
    "    stock_receipt_record(receipt_id=None, transfer_id=None, user=None, "
    "lines=[Line(sku=f'BIG-{i:05d}', quantity=Decimal(i % 7 + 1)) for i in range(start, start + 5000)])\n"
    "parts = stock_snapshot_record()\n"
    "print('snapshot', parts[0].seq, parts[-1].seq)\n"
)


@pytest.mark.processes
@pytest.mark.mode("branch")
def test_a_store_with_60000_skus_delivers_its_snapshot_in_parts_and_central_judges_it(tmp_path):
    chain = ProcessChain(tmp_path, branches=("B001",))
    try:
        chain.prepare()
        chain.central.manage("shell", "-c", BIG_CATALOG)
        node = chain.branch_nodes["B001"]
        node.manage("shell", "-c", BIG_CATALOG)
        first, last = map(int, node.manage("shell", "-c", BIG_STOCK, timeout=300).split()[-2:])
        chain.start()
        poll(lambda: chain.sync_status("B001")["pending_events"] == 0, timeout=180, what="B001 drained")

        assert last - first >= 3, "2.4 MB of levels in parts of at most half a request"
        assert chain.sync_status("B001")["parked_events"] == 0
        assert chain.central_sql("SELECT high_water_seq FROM branches_branch WHERE code = 'B001'") == [(last,)]
        chain.central.manage("reconcile", timeout=300)
        assert chain.central_sql("SELECT snapshot_seq FROM reconciliation_branchcheck WHERE branch = 'B001'") == [
            (last,)
        ]
        assert chain.central_sql(
            "SELECT count(*) FROM reconciliation_discrepancy WHERE branch = 'B001' AND kind = 'count_mismatch'"
        ) == [(0,)]
    finally:
        chain.stop()
