"""Invariants about processes, proved on a real gunicorn branch server on loopback (docs/architecture.md,
invariant 1)."""

import sqlite3
import threading
import uuid
from collections import Counter
from decimal import Decimal

import pytest
import requests

from harness.faults import SlowBody
from harness.processes import WebServer

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


def pos(node) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {node.token}"
    return session


def outbox_seqs(node) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{node.data_dir / 'db.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute("SELECT seq, type FROM branches_outboxevent ORDER BY seq").fetchall()


def test_acknowledged_sale_survives_sigkill_of_the_server(branch_node):
    server = WebServer(branch_node, workers=2).start()
    try:
        sale_id = str(uuid.uuid4())
        body = {"id": sale_id, "lines": [{"sku": "FRU-MANZANA", "quantity": "1.340"}]}
        created = pos(branch_node).post(f"{server.url}/api/v1/sales", json=body, timeout=10)
        assert created.status_code == 201
        server.kill()  # SIGKILL to gunicorn's master and every worker, right after the 201

        server.start()
        stored = pos(branch_node).get(f"{server.url}/api/v1/sales/{sale_id}", timeout=10)
        replay = pos(branch_node).post(f"{server.url}/api/v1/sales", json=body, timeout=10)
        stock = pos(branch_node).get(f"{server.url}/api/v1/stock/FRU-MANZANA", timeout=10).json()
    finally:
        server.stop()

    assert stored.status_code == 200
    assert stored.json() == created.json()
    assert replay.status_code == 200
    assert Decimal(stock["on_hand"]) == Decimal("120.000") - Decimal("1.340")
    assert outbox_seqs(branch_node)[-1][1] == "sale.completed"


def test_concurrent_cashiers_on_one_sku_never_oversell_never_lock(branch_node):
    clients, attempts_each, sku, start = 16, 10, "ALM-ARROZ-1K", Decimal("100")
    server = WebServer(branch_node, workers=4).start()
    statuses: Counter = Counter()
    bodies: list[str] = []
    lock = threading.Lock()

    def cashier():
        session = pos(branch_node)
        for _ in range(attempts_each):
            response = session.post(
                f"{server.url}/api/v1/sales", json={"lines": [{"sku": sku, "quantity": "1"}]}, timeout=30
            )
            with lock:
                statuses[response.status_code] += 1
                bodies.append(response.text)

    try:
        threads = [threading.Thread(target=cashier) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        final = Decimal(pos(branch_node).get(f"{server.url}/api/v1/stock/{sku}", timeout=10).json()["on_hand"])
    finally:
        server.stop()

    acknowledged = statuses[201]
    assert sum(statuses.values()) == clients * attempts_each
    assert set(statuses) <= {201, 409}, statuses
    assert final == start - acknowledged
    assert acknowledged == start  # every unit was sold, and not one more
    assert not any("locked" in body for body in bodies)
    assert "database is locked" not in server.log()
    events = outbox_seqs(branch_node)
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert sum(1 for _, kind in events if kind == "sale.completed") == acknowledged


def test_a_broker_that_never_answers_neither_fails_nor_holds_up_a_sale(branch_node):
    from harness.faults import FaultProxy

    broker = FaultProxy(6379)
    broker.set("blackhole")  # accepts connections, never answers: the worst kind of broker outage
    branch_node.env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{broker.port}/0"
    server = WebServer(branch_node, workers=2).start()
    try:
        session = pos(branch_node)
        statuses = [
            session.post(
                f"{server.url}/api/v1/sales", json={"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]}, timeout=10
            ).status_code
            for _ in range(20)
        ]
        status = session.get(f"{server.url}/api/v1/sync/status", timeout=10).json()
    finally:
        server.stop()
        broker.close()

    assert statuses == [201] * 20
    assert status["pending_events"] == 21  # the starting stock and 20 sales, all kept for the sweep


def test_a_request_whose_body_stalls_gets_408_and_lets_go_of_the_worker(branch_node):
    """One worker with one thread: a till (or anything else) that starts a sale and stops sending mid-body would
    hold it, and every till behind it, for as long as it liked. After REQUEST_BODY_TIMEOUT_S it is answered 408."""
    branch_node.env["REQUEST_BODY_TIMEOUT_S"] = "2"
    server = WebServer(branch_node, workers=1, threads=1).start()
    stalled = SlowBody(server.port, "/api/v1/sales", f"Token {branch_node.token}", every_s=1)
    try:
        timed_out = stalled.status(timeout=30)
        sold = pos(branch_node).post(
            f"{server.url}/api/v1/sales", json={"lines": [{"sku": "FRU-MANZANA", "quantity": "1"}]}, timeout=30
        )
    finally:
        stalled.close()
        server.stop()

    assert timed_out == 408
    assert sold.status_code == 201, sold.text
