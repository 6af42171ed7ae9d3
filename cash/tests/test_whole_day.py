"""A whole day at a store with two tills, as real processes on loopback (harness/chain.py): floats, a pickup, split
payments, a return, a void, a drawer short by 1.00 on T2, head office unreachable for part of the day. After the
link heals, head office lists both sessions with their variances, and checks each Z against the sales it holds: a
sale it could not take yet (its product was not in head office's catalog) is a cash_mismatch until the sale is
re-sent and stored."""

import os
import zoneinfo
from datetime import datetime
from decimal import Decimal

import pytest

from harness.chain import ProcessChain, every_row, token_from
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

LOCAL_ONLY = (
    "from inventory.models import Product\n"
    "from inventory.services import Line, stock_receipt_record\n"
    "from decimal import Decimal\n"
    "Product.objects.create(sku='LOC-MIEL', name='Miel local', unit='unit', price=Decimal('4.00'))\n"
    "stock_receipt_record(receipt_id=None, transfer_id=None, user=None,\n"
    "    lines=[Line(sku='LOC-MIEL', quantity=Decimal(5))])\n"
)
RESEND = "from branches.push import parked_events_retry\nparked_events_retry()\n"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("cash-day"),
        branches=("B001",),
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
        web_workers=1,
    )
    chain.prepare()
    # A product the store has and head office does not know yet: its sale is rejected there and parked here.
    chain.branch_nodes["B001"].manage("shell", "-c", LOCAL_ONLY)
    chain.start()
    yield chain
    chain.stop()


def _ok(answer, status=(200, 201)):
    assert answer.status_code in status, answer.text
    return answer.json()


def test_a_whole_day_with_two_registers_reaches_head_office_and_every_close_is_checked(chain):
    store, node = chain.webs["B001"].url, chain.branch_nodes["B001"]
    pos = chain.pos("B001")
    boss = chain.pos("B001")
    boss.headers["Authorization"] = f"Token {token_from(node.manage('create_staff', 'gerente', '--role', 'manager'))}"
    assert [r["code"] for r in _ok(pos.get(f"{store}/api/v1/registers"))] == ["T1", "T2"]

    def sell(register, lines, payments):
        body = {"lines": [{"sku": s, "quantity": q} for s, q in lines], "register": register, "payments": payments}
        return _ok(pos.post(f"{store}/api/v1/sales", json=body))

    t1 = _ok(pos.post(f"{store}/api/v1/cash-sessions", json={"register": "T1", "opening_float": "100.00"}))
    t2 = _ok(pos.post(f"{store}/api/v1/cash-sessions", json={"register": "T2", "opening_float": "50.00"}))

    chain.proxies["B001"].set("refuse")  # head office unreachable for the busy part of the day
    cash = sell("T1", [("FRU-BANANA", "2.000")], [{"method": "cash", "amount": "10.00"}])
    assert cash["change"] == "6.40"
    split = sell(
        "T1",
        [("LAC-LECHE-1L", "4"), ("PAN-MOLDE", "1")],
        [{"method": "card", "amount": "5.00"}, {"method": "cash", "amount": "5.00"}],
    )
    assert (split["total"], split["change"]) == ("7.60", "2.40")
    sell("T1", [("LOC-MIEL", "1")], [{"method": "card", "amount": "4.00"}])  # head office will reject it
    _ok(pos.post(f"{store}/api/v1/cash-sessions/{t1['id']}/movements", json={"kind": "out", "amount": "50.00"}))
    _ok(
        pos.post(
            f"{store}/api/v1/returns",
            json={"sale_id": split["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], "register": "T1"},
        )
    )
    sell("T2", [("ALM-ARROZ-1K", "2")], [{"method": "card", "amount": "4.60"}])
    voided = sell("T2", [("BEB-AGUA-2L", "3")], [{"method": "cash", "amount": "5.00"}])
    _ok(boss.post(f"{store}/api/v1/sales/{voided['id']}/void", json={"reason": "wrong item", "register": "T2"}))
    sell("T2", [("ALM-YERBA-1K", "1")], [{"method": "cash", "amount": "6.80"}])

    x1 = _ok(pos.get(f"{store}/api/v1/cash-sessions/{t1['id']}/report"))
    x2 = _ok(pos.get(f"{store}/api/v1/cash-sessions/{t2['id']}/report"))
    # T1: 100 + 3.60 + 2.60 cash kept - 50 picked up; the return's 1.25 went back to the card that paid 5.00.
    assert x1["expected_cash"] == "56.20" and x1["sales_count"] == 3
    assert x2["expected_cash"] == "56.80" and (x2["sales_count"], x2["voids"]) == (3, 1)
    z1 = _ok(pos.post(f"{store}/api/v1/cash-sessions/{t1['id']}/close", json={"counted": {"cash": "56.20"}}))
    counted = str(Decimal(x2["expected_cash"]) - Decimal("1.00"))
    z2 = _ok(pos.post(f"{store}/api/v1/cash-sessions/{t2['id']}/close", json={"counted": {"cash": counted}}))
    assert (z1["z_number"], z1["variance"], z2["z_number"], z2["variance"]) == (1, "0.00", 1, "-1.00")
    day = _ok(boss.post(f"{store}/api/v1/cash-days/close", json={}))
    assert day["totals"]["variance"] == "-1.00"

    chain.proxies["B001"].set("pass")  # healed: the day reaches head office
    poll(lambda: chain.sync_status("B001")["pending_events"] == 0, timeout=60, interval=0.2, what="outbox drained")
    assert chain.sync_status("B001")["parked_events"] == 2  # the local product's receipt and its sale
    chain.central.manage("reconcile")

    office = chain.head_office()
    today = datetime.now(zoneinfo.ZoneInfo("America/Argentina/Buenos_Aires")).date().isoformat()
    sessions = every_row(office, f"{chain.central_web.url}/api/v1/cash-sessions", {"branch": "B001", "date": today})
    by_register = {row["register"]: row for row in sessions}
    assert {r: (row["status"], row["z_number"], row["variance"]) for r, row in by_register.items()} == {
        "T1": ("closed", 1, "0.00"),
        "T2": ("closed", 1, "-1.00"),
    }
    assert (by_register["T1"]["verdict"], by_register["T2"]["verdict"]) == ("mismatch", "agrees")

    def mismatches(status):
        params = {"branch": "B001", "kind": "cash_mismatch", "status": status}
        return every_row(office, f"{chain.central_web.url}/api/v1/discrepancies", params)

    found = mismatches("open")
    assert [d["sku"] for d in found] == ["T1 Z1"]
    assert found[0]["detail"]["differences"]["sales"] == {
        "z": {"card": "9.00", "cash": "6.20"},
        "held": {"card": "5.00", "cash": "6.20"},
    }

    # Head office learns the product; the store re-sends what it parked; the Z agrees and the finding clears.
    product = {"name": "Miel local", "unit": "unit", "price": "4.00"}
    _ok(office.put(f"{chain.central_web.url}/api/v1/products/LOC-MIEL", json=product))
    node.manage("shell", "-c", RESEND)
    poll(
        lambda: chain.sync_status("B001")["pending_events"] == chain.sync_status("B001")["parked_events"] == 0,
        timeout=60,
        interval=0.2,
        what="parked events delivered",
    )
    chain.central.manage("reconcile")

    assert mismatches("open") == []
    assert [d["sku"] for d in mismatches("auto_resolved")] == ["T1 Z1"]
    sessions = every_row(office, f"{chain.central_web.url}/api/v1/cash-sessions", {"branch": "B001"})
    assert {row["register"]: row["verdict"] for row in sessions} == {"T1": "agrees", "T2": "agrees"}
    chain.wait_converged(timeout=60)
