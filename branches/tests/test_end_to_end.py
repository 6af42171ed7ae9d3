"""Branches and central as real processes on loopback: central under gunicorn on PostgreSQL, two branches under gunicorn
on SQLite, Celery workers and beat on Redis, a fault proxy on each link (docs/architecture.md, invariants 2-4)."""

import os
import time
from decimal import Decimal

import pytest

from harness.chain import ProcessChain, every_row
from harness.processes import CeleryWorker, poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("chain"),
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
    )
    chain.prepare().start()
    yield chain
    chain.stop()


@pytest.fixture(autouse=True)
def healed(chain):
    """Every test starts and ends with open links, a running central and a drained chain."""
    yield
    for proxy in chain.proxies.values():
        proxy.set("pass")
    chain.wait_converged(timeout=60)


def test_sales_at_both_branches_reach_central_on_the_push_their_commit_asks_for(chain):
    """With central up, each sale's event is delivered by the first push that carries it (what the outbox records):
    no failed attempt, no retry."""
    chain.wait_converged(timeout=30)
    before = {
        code: chain.branch_sql(code, "SELECT coalesce(max(seq), 0) FROM branches_outboxevent")[0][0]
        for code in chain.branch_codes
    }
    for code in chain.branch_codes:
        assert chain.sell(code, "FRU-BANANA", "1.500").status_code == 201
        assert chain.sell(code, "LAC-LECHE-1L", "2").status_code == 201

    chain.wait_converged(timeout=30)
    for code in chain.branch_codes:
        delivered = chain.branch_sql(
            code, "SELECT state, attempts FROM branches_outboxevent WHERE seq > ? ORDER BY seq", before[code]
        )
        assert delivered == [("delivered", 1), ("delivered", 1)], (code, delivered)


def test_branches_keep_selling_with_central_down_and_everything_arrives_once_after(chain):
    chain.wait_converged()
    chain.central_web.kill()
    try:
        statuses = [chain.sell(code, "ALM-ARROZ-1K", "1").status_code for code in chain.branch_codes for _ in range(15)]
        pending = {code: chain.sync_status(code)["pending_events"] for code in chain.branch_codes}
        for code in chain.branch_codes:
            poll(lambda code=code: not chain.sync_status(code)["central_reachable"], timeout=15, what="unreachable")
    finally:
        chain.central_web.start()

    assert statuses == [201] * 30
    assert all(count >= 15 for count in pending.values()), pending
    chain.wait_converged(timeout=60)
    for code in chain.branch_codes:
        written, stored = chain.exactly_once(code)
        assert written == stored
        assert chain.branch_stock(code)["ALM-ARROZ-1K"] == "85.000"


def test_sales_answer_while_central_is_silent_and_a_push_hangs_on_it(chain, record_property):
    """Invariant 2 with real processes: central's link is a black hole (connections accepted, never answered), so
    a push waits out its 20 s read timeout; every sale meanwhile answers at once. Each sale's client gives up after
    5 s, far below what a sale that waited on central would take; the times are recorded, not asserted."""
    chain.wait_converged()
    proxy = chain.proxies["B001"]
    proxy.set("blackhole")
    assert chain.sell("B001", "PAN-MOLDE", "1").status_code == 201
    poll(lambda: proxy.counts["blackholed"] >= 1, timeout=15, what="a push hanging on the silent central")

    session, answered = chain.pos("B001"), []
    for _ in range(20):
        started = time.monotonic()
        sale = session.post(
            f"{chain.webs['B001'].url}/api/v1/sales",
            json={"lines": [{"sku": "PAN-MOLDE", "quantity": "1"}]},
            timeout=5,
        )
        answered.append((sale.status_code, round(time.monotonic() - started, 4)))
    record_property("sale_seconds_while_central_silent", [seconds for _, seconds in answered])

    assert [status for status, _ in answered] == [201] * 20
    assert chain.sync_status("B001")["pending_events"] >= 21, "the sales waited for no push"


PUSH = b"POST /api/v1/sync/events"


def duplicates_absorbed(chain, code: str) -> int:
    return chain.central_sql("SELECT duplicates_absorbed FROM branches_branch WHERE code = %s", code)[0][0]


def test_worker_killed_mid_push_then_same_batch_resent_loses_and_doubles_nothing(chain):
    chain.wait_converged()
    proxy, worker = chain.proxies["B001"], chain.workers["B001"]
    before = duplicates_absorbed(chain, "B001")
    proxy.set("hold", cuts=1, only=PUSH)  # central stores the batch; its answer never reaches the worker

    sale = chain.sell("B001", "VER-PAPA", "2.250").json()
    poll(lambda: proxy.counts["held"] == 1, timeout=15, what="central answering a push the worker waits on")
    worker.kill()  # SIGKILL in the middle of the push
    chain.workers["B001"] = CeleryWorker(worker.node).start()  # the sweep sends the same batch again

    chain.wait_converged(timeout=60)
    written, stored = chain.exactly_once("B001")
    assert written == stored
    assert chain.central_sql(
        "SELECT count(*) FROM branches_branchevent WHERE branch = 'B001' AND payload->>'sale_id' = %s", sale["id"]
    ) == [(1,)]
    assert duplicates_absorbed(chain, "B001") > before, "the stored batch was sent again and absorbed"


def test_answer_lost_after_central_committed_is_absorbed_as_duplicates(chain):
    chain.wait_converged()
    proxy = chain.proxies["B002"]
    before = duplicates_absorbed(chain, "B002")
    proxy.set("cut", cuts=2, only=PUSH)

    for _ in range(5):
        assert chain.sell("B002", "VER-CEBOLLA", "0.800").status_code == 201
    poll(lambda: proxy.counts["cut"] >= 2, timeout=20, what="two answers cut after commit")

    chain.wait_converged(timeout=60)
    written, stored = chain.exactly_once("B002")
    assert written == stored
    assert duplicates_absorbed(chain, "B002") > before


def test_price_change_at_central_applies_to_the_branchs_next_sale(chain):
    changed = chain.head_office().put(
        f"{chain.central_web.url}/api/v1/products/FRU-NARANJA", json={"price": "1.95"}, timeout=10
    )
    assert changed.status_code == 200

    poll(
        lambda: (
            chain.pos("B001").get(f"{chain.webs['B001'].url}/api/v1/stock/FRU-NARANJA", timeout=5).json()["price"]
            == "1.95"
        ),
        timeout=15,
        what="the new price at B001",
    )
    sale = chain.sell("B001", "FRU-NARANJA", "2").json()

    assert sale["lines"][0]["unit_price"] == "1.95"
    assert Decimal(sale["total"]) == Decimal("3.90")


def test_a_transfer_reaches_its_branch_and_comes_back_as_stock_received(chain):
    office = chain.head_office()
    transfer = office.post(
        f"{chain.central_web.url}/api/v1/transfers",
        json={"to_branch": "B002", "lines": [{"sku": "BEB-AGUA-2L", "quantity": "24"}], "note": "reposición"},
        timeout=10,
    ).json()
    poll(
        lambda: chain.branch_sql("B002", "SELECT state FROM branches_incomingtransfer") == [("in_transit",)],
        timeout=15,
        what="the transfer at B002",
    )

    received = chain.pos("B002").post(
        f"{chain.webs['B002'].url}/api/v1/stock/receipts",
        json={"transfer_id": transfer["id"], "lines": [{"sku": "BEB-AGUA-2L", "quantity": "24"}]},
        timeout=10,
    )

    assert received.status_code == 201
    poll(
        lambda: (
            chain.central_sql("SELECT state FROM branches_transfer WHERE id = %s", transfer["id"]) == [("received",)]
        ),
        timeout=15,
        what="central hearing of the receipt",
    )
    assert chain.branch_sql("B002", "SELECT state FROM branches_incomingtransfer") == [("received",)]


def test_sync_now_pushes_and_pulls_once_with_a_summary(chain):
    chain.proxies["B001"].set("refuse")
    assert chain.sell("B001", "PAN-MOLDE", "1").status_code == 201
    poll(lambda: chain.sync_status("B001")["pending_events"] >= 1, timeout=10, what="a pending event")
    chain.proxies["B001"].set("pass")

    output = chain.branch_nodes["B001"].manage("sync_now")

    assert "push: sent" in output and "pull: applied" in output
    assert chain.sync_status("B001")["pending_events"] == 0


def test_a_transfer_the_source_branch_cannot_cover_comes_back_as_its_event_and_opens_an_oversell_case(chain):
    chain.wait_converged()
    office = chain.head_office()
    have = Decimal(chain.branch_stock("B001")["LAC-YOGUR-1L"])
    transfer = office.post(
        f"{chain.central_web.url}/api/v1/transfers",
        json={
            "from_branch": "B001",
            "to_branch": "B002",
            "lines": [{"sku": "LAC-YOGUR-1L", "quantity": str(have + 5)}],
        },
        timeout=10,
    ).json()

    poll(lambda: chain.branch_stock("B001")["LAC-YOGUR-1L"] == "-5.000", timeout=15, what="B001 shipping the transfer")
    chain.wait_converged()
    adjusted = chain.central_sql(
        "SELECT payload->>'reason' FROM branches_branchevent WHERE branch = 'B001' AND type = 'stock.adjusted'"
    )
    chain.central.manage("reconcile")
    cases = every_row(office, f"{chain.central_web.url}/api/v1/oversell-cases", params={"branch": "B001"})

    assert (f"transfer {transfer['id']} to B002",) in adjusted
    assert [(c["sku"], c["shortfall"], c["source"]) for c in cases] == [
        ("LAC-YOGUR-1L", "5.000", "adjustment_or_transfer")
    ]
