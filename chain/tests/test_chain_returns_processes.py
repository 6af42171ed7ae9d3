"""Returns of another store's sale, on real processes: central, B001 and B002 under gunicorn with their Celery
worker and beat. A sale at B001 reaches B002's index of the chain's sales; with head office stopped, B002 takes back
part of it and B001 the rest and one more; with head office back, both returns are booked against the sale and one
over-return case names both stores."""

import pytest

from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("central"), pytest.mark.processes]

SKU = "LAC-LECHE-1L"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("chain-returns"), central_env={"CHAIN_STOCK_PUBLISH_S": "1"})
    chain.prepare()
    chain.start()
    yield chain
    chain.stop()


def returned(chain: ProcessChain, code: str, body: dict):
    return chain.pos(code).post(f"{chain.webs[code].url}/api/v1/returns", json=body, timeout=30)


def test_returns_of_one_sale_at_two_stores_offline_are_booked_and_the_excess_is_a_case(chain):
    chain.receive("B001", {SKU: "10"})
    sale = chain.sell("B001", SKU, "5").json()
    sale_key = sale["id"].replace("-", "")  # how SQLite holds a UUID
    poll(
        lambda: chain.branch_sql("B002", "SELECT number FROM chain_chainsale WHERE id = ?", sale_key),
        timeout=60,
        what="B001's sale in B002's index",
    )
    chain.wait_converged(timeout=60)
    b002_before = chain.branch_stock("B002").get(SKU, "0")

    chain.central_web.kill()
    try:
        at_b002 = returned(
            chain,
            "B002",
            {"sale_number": sale["number"], "sale_branch": "B001", "lines": [{"sku": SKU, "quantity": "2"}]},
        )
        assert at_b002.status_code == 201, at_b002.text
        assert at_b002.json()["sale_id"] == sale["id"] and at_b002.json()["sale_branch"] == "B001"
        # The goods come back into the returning store's stock.
        assert float(chain.branch_stock("B002")[SKU]) == float(b002_before) + 2
        too_many = returned(chain, "B002", {"sale_id": sale["id"], "lines": [{"sku": SKU, "quantity": "4"}]})
        assert too_many.status_code == 409 and too_many.json()["code"] == "return_exceeds_sale"
        # B001 cannot know of B002's return: the rest and one more is within what it sold, as far as it knows.
        at_b001 = returned(chain, "B001", {"sale_id": sale["id"], "lines": [{"sku": SKU, "quantity": "4"}]})
        assert at_b001.status_code == 201, at_b001.text
    finally:
        chain.central_web.start()

    chain.wait_converged(timeout=90)
    booked = poll(
        lambda: (
            (
                rows := chain.central_sql(
                    "SELECT branch, lines->>%s FROM chain_chainreturn WHERE sale_id = %s ORDER BY branch",
                    SKU,
                    sale["id"],
                )
            )
            and len(rows) == 2
            and rows
        ),
        timeout=60,
        what="both returns booked against the sale",
    )
    assert booked == [("B001", "4.000"), ("B002", "2.000")]
    cases = poll(
        lambda: chain.central_sql(
            "SELECT sale_branch, sale_number, excess->>%s, returns FROM chain_overreturncase WHERE sale_id = %s",
            SKU,
            sale["id"],
        ),
        timeout=60,
        what="an over-return case",
    )
    assert len(cases) == 1
    branch, number, excess, returns = cases[0]
    assert (branch, number, excess) == ("B001", sale["number"], "1.000")
    assert sorted(entry["branch"] for entry in returns) == ["B001", "B002"]
    # Once B001's index holds what head office booked of B002's return, B001 refuses a further one.
    poll(
        lambda: (
            "B002"
            in (chain.branch_sql("B001", "SELECT returned FROM chain_chainsale WHERE id = ?", sale_key) or [("",)])[0][
                0
            ]
        ),
        timeout=60,
        what="B002's return in B001's index",
    )
    refused = returned(chain, "B001", {"sale_id": sale["id"], "lines": [{"sku": SKU, "quantity": "1"}]})
    assert refused.status_code == 409 and refused.json()["code"] == "return_exceeds_sale"
