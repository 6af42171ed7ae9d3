"""Other stores' stock at a branch, on real processes: central, B001 and B002 under gunicorn with their Celery
worker and beat, a fault proxy between each branch and central. A sale at B001 reaches B002's replica through
head office, and B002 answers the same with head office unreachable."""

import pytest

from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("central"), pytest.mark.processes]

SKU = "LAC-LECHE-1L"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("chain-stock"), central_env={"CHAIN_STOCK_PUBLISH_S": "1"})
    chain.prepare()
    chain.central_sql("UPDATE branches_branch SET name = 'Sucursal Centro' WHERE code = 'B001' RETURNING code")
    chain.start()
    yield chain
    chain.stop()


def seen_at(chain: ProcessChain, code: str, of: str) -> dict | None:
    answer = chain.pos(code).get(f"{chain.webs[code].url}/api/v1/stock/{SKU}/chain", timeout=10)
    answer.raise_for_status()
    return next((row for row in answer.json() if row["branch"] == of), None)


def test_a_sale_at_one_store_shows_at_another_and_stays_there_with_head_office_unreachable(chain):
    chain.receive("B001", {SKU: "10"})
    assert chain.sell("B001", SKU, "3").status_code == 201
    chain.wait_converged(timeout=60)
    figure = chain.central_stock("B001")[SKU]

    row = poll(
        lambda: (found := seen_at(chain, "B002", "B001")) and found["on_hand"] == figure and found,
        timeout=60,
        what="B001's figure in B002's replica",
    )
    assert row["name"] == "Sucursal Centro" and row["as_of"]
    assert seen_at(chain, "B001", "B001") is None  # a store's own figure is its local one

    chain.proxies["B002"].set("refuse")
    assert chain.sell("B001", SKU, "2").status_code == 201
    poll(
        lambda: chain.sync_status("B002")["chain_stock_last_error"],
        timeout=60,
        what="B002's replica pull failing",
    )
    # A pull already under way when the link went may have brought a later publication of the same figure; after
    # that, B002 answers from its replica alone: the figure from before the second sale, with the time it was true.
    held = seen_at(chain, "B002", "B001")
    assert held["on_hand"] == row["on_hand"] and held["as_of"] >= row["as_of"]
    assert chain.sync_status("B002")["chain_stock_last_error"]
    assert seen_at(chain, "B002", "B001") == held

    chain.proxies["B002"].set("pass")
    chain.wait_converged(timeout=60)
    figure = chain.central_stock("B001")[SKU]
    poll(
        lambda: seen_at(chain, "B002", "B001")["on_hand"] == figure,
        timeout=60,
        what="B002's replica caught up",
    )
