"""A price and a promotion scheduled at head office reach a store ahead of time, and the store switches to them at
their time by its own clock while head office is unreachable; what it sold then reaches head office once the link
heals. Real processes on loopback (harness/chain.py), the store's link to head office cut by its FaultProxy."""

import os
from datetime import datetime, timedelta

import pytest

from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

LEAD_S = 30  # how far ahead the price is scheduled: time for the store to pull it before its link is cut


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(
        tmp_path_factory.mktemp("price-switch"),
        branches=("B001",),
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
        web_workers=1,
    )
    chain.prepare()
    chain.start()
    yield chain
    chain.stop()


def _ok(answer):
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_a_store_cut_off_from_head_office_switches_price_and_promotion_on_time(chain):
    central, store = chain.central_web.url, chain.webs["B001"].url
    boss, pos = chain.head_office(), chain.pos("B001")
    effective = (datetime.now().astimezone() + timedelta(seconds=LEAD_S)).replace(microsecond=0)
    _ok(
        boss.post(
            f"{central}/api/v1/prices",
            json={"sku": "LAC-LECHE-1L", "price": "0.99", "effective_at": effective.isoformat()},
        )
    )
    promotion = _ok(
        boss.post(
            f"{central}/api/v1/promotions",
            json={
                "name": "Agua 3x2",
                "kind": "multibuy",
                "skus": ["BEB-AGUA-2L"],
                "starts_at": effective.isoformat(),
                "ends_at": (effective + timedelta(days=1)).isoformat(),
                "buy": 3,
                "pay": 2,
            },
        )
    )

    def pulled():
        prices = chain.branch_sql("B001", "SELECT COUNT(*) FROM pricing_scheduledprice")[0][0]
        promotions = chain.branch_sql("B001", "SELECT COUNT(*) FROM pricing_promotion")[0][0]
        return prices == 1 and promotions == 1

    poll(pulled, timeout=LEAD_S - 5, interval=0.2, what="the schedule pulled by the store")
    chain.proxies["B001"].set("refuse")  # head office unreachable from here on, before the switch
    assert datetime.now().astimezone() < effective, "the store pulled the schedule too late for this test to mean it"

    before = _ok(pos.post(f"{store}/api/v1/sales", json={"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}))
    sold_at = datetime.fromisoformat(before["created_at"])
    assert before["lines"][0]["unit_price"] == ("0.99" if sold_at >= effective else "1.25")

    poll(
        lambda: _ok(pos.get(f"{store}/api/v1/stock/LAC-LECHE-1L"))["price"] == "0.99",
        timeout=LEAD_S + 30,
        interval=0.25,
        what="the store's price switched",
    )
    after = _ok(
        pos.post(
            f"{store}/api/v1/sales",
            json={"lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}, {"sku": "BEB-AGUA-2L", "quantity": "3"}]},
        )
    )
    milk, water = after["lines"]
    assert (milk["unit_price"], milk["line_total"]) == ("0.99", "1.98")
    assert (water["gross"], water["discount"], water["promotion_id"]) == ("3.15", "1.05", promotion["id"])
    assert (after["total"], after["saving"]) == ("4.08", "1.05")
    assert chain.proxies["B001"].counts["refused"] > 0  # it did try head office while cut off
    assert not chain.sync_status("B001")["central_reachable"]

    chain.proxies["B001"].set("pass")
    chain.wait_converged(timeout=60)
    stored = chain.central_sql(
        "SELECT payload FROM branches_branchevent WHERE branch = 'B001' AND type = 'sale.completed' "
        "AND payload->>'sale_id' = %s",
        after["id"],
    )
    assert [line.get("discount", "0.00") for line in stored[0][0]["lines"]] == ["0.00", "1.05"]
