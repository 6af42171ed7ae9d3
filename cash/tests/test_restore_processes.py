"""A store box restored from last night's backup gets its drawer back from head office, as real processes on
loopback (harness/chain.py): the session the backup held open is closed as it was, its Z and the session opened
after it come back with their movements and payments, the open one goes on, the next Z follows the last one head
office holds, and every event is stored once. The replay itself, row by row, is cash/tests/test_restore.py."""

import os
import re
from pathlib import Path

import pytest

from harness.chain import ProcessChain, every_row
from harness.processes import CeleryBeat, CeleryWorker, WebServer, poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

DRAWER = {
    "registers": "SELECT code, last_z_number FROM cash_register",
    "sessions": "SELECT id, register, status, opening_float, open_seq, z_number, counted_cash, close_fingerprint "
    "FROM cash_cashsession",
    "movements": "SELECT id, session_id, kind, amount, reason FROM cash_cashmovement",
    "tenders": "SELECT sale_id, register, session_id, payments, change FROM cash_saletender",
    "refunds": "SELECT id, kind, sale_id, session_id, payments FROM cash_refund",
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("cash-restore"),
        branches=("B001",),
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
        web_workers=1,
    )
    chain.prepare().start()
    yield chain
    chain.stop()


def _ok(answer):
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def drawer(chain) -> dict:
    return {name: sorted(chain.branch_sql("B001", sql)) for name, sql in DRAWER.items()}


def test_a_box_restored_from_its_backup_gets_its_drawer_back_and_its_z_numbers_go_on(chain):
    store, node, pos = chain.webs["B001"].url, chain.branch_nodes["B001"], chain.pos("B001")

    def post(path, **body):
        return _ok(pos.post(f"{store}{path}", json=body, timeout=10))

    def sell(register, sku, quantity, payments):
        lines = [{"sku": sku, "quantity": quantity}]
        return post("/api/v1/sales", register=register, lines=lines, payments=payments)

    first = post("/api/v1/cash-sessions", register="T1", opening_float="100.00")
    sell("T1", "ALM-ARROZ-1K", "1", [{"method": "cash", "amount": "5.00"}])
    chain.wait_converged()
    backup = Path(re.search(r"backup: (\S+)", node.manage("backup")).group(1))

    # After the backup: the rest of the first session, its close, and the next session, all delivered.
    split = sell(
        "T1", "LAC-LECHE-1L", "2", [{"method": "card", "amount": "1.00"}, {"method": "cash", "amount": "2.00"}]
    )
    post(f"/api/v1/cash-sessions/{first['id']}/movements", kind="out", amount="30.00", reason="caja fuerte")
    post("/api/v1/returns", sale_id=split["id"], lines=[{"sku": "LAC-LECHE-1L", "quantity": "1"}], register="T1")
    expected = _ok(pos.get(f"{store}/api/v1/cash-sessions/{first['id']}/report", timeout=10))["expected_cash"]
    z1 = post(f"/api/v1/cash-sessions/{first['id']}/close", counted={"cash": expected})
    second = post("/api/v1/cash-sessions", register="T1", opening_float="80.00")
    sell("T1", "ALM-ARROZ-1K", "1", [{"method": "cash", "amount": "10.00"}])
    post(f"/api/v1/cash-sessions/{second['id']}/movements", kind="in", amount="5.00", reason="cambio")
    x_report = _ok(pos.get(f"{store}/api/v1/cash-sessions/{second['id']}/report", timeout=10))
    chain.wait_converged()
    lost = drawer(chain)

    for process in (chain.webs["B001"], chain.workers["B001"], chain.beats["B001"]):
        process.kill()  # the box dies; its disk goes back to last night's backup
    node.manage("restore", str(backup))
    chain.webs["B001"] = WebServer(node, workers=chain.web_workers).start()
    store = chain.webs["B001"].url
    refused = pos.post(
        f"{store}/api/v1/cash-sessions/{first['id']}/close", json={"counted": {"cash": "1.00"}}, timeout=10
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "recovering"), "a close before the history is back"
    chain.workers["B001"] = CeleryWorker(node).start()
    chain.beats["B001"] = CeleryBeat(node).start()
    poll(lambda: chain.sync_status("B001")["recovery_state"] == "idle", timeout=90, what="B001 recovered")
    chain.wait_converged(timeout=90)

    assert drawer(chain) == lost
    x_again = _ok(pos.get(f"{store}/api/v1/cash-sessions/{second['id']}/report", timeout=10))
    # The opening's instant comes back as its event carries it, to the millisecond.
    assert x_again.pop("opened_at")[:23] == x_report.pop("opened_at")[:23]
    assert x_again == x_report, "each sale and movement counted once"
    assert _ok(pos.get(f"{store}/api/v1/cash-sessions/{first['id']}/report", timeout=10))["z_number"] == z1["z_number"]
    z2 = post(f"/api/v1/cash-sessions/{second['id']}/close", counted={"cash": x_report["expected_cash"]})
    assert (z1["z_number"], z2["z_number"], z2["sales_count"]) == (1, 2, 1)

    chain.wait_converged(timeout=60)
    chain.central.manage("reconcile")
    sessions = every_row(chain.head_office(), f"{chain.central_web.url}/api/v1/cash-sessions", {"branch": "B001"})
    assert sorted((row["z_number"], row["variance"], row["verdict"]) for row in sessions) == [
        (1, "0.00", "agrees"),
        (2, "0.00", "agrees"),
    ]
    assert chain.central_sql("SELECT count(*) FROM branches_eventproblem WHERE branch = 'B001'") == [(0,)]
    written, stored = chain.exactly_once("B001")
    assert written == stored
