"""A restored store box while its tills go on: a till retrying a charge whose answer was lost is counted once at
both ends, and a sale number is never given twice, also across two restores in a row (docs/protocol.md, "Seqs are
never reused"). Real processes, as in test_recovery.py, on a chain of its own: these tests leave a refused duplicate
behind, which the other module's checks would count."""

import re
import uuid
from pathlib import Path

import pytest

from branches.tests.test_recovery import box_start, box_stop, central_sales, healed, sell
from harness.chain import ProcessChain
from harness.processes import CeleryBeat, CeleryWorker, poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

SKU = "ALM-ARROZ-1K"
__all__ = ["healed"]  # test_recovery.py's autouse fixture: every proxy passing again, the chain converged


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("retries"), branches=("B001",))
    chain.prepare().start()
    yield chain
    chain.stop()


def backup(chain, code: str) -> Path:
    return Path(re.search(r"backup: (\S+)", chain.branch_nodes[code].manage("backup")).group(1))


def test_a_till_retrying_a_charge_on_a_restored_box_has_the_sale_counted_once_at_both_ends(chain):
    code, node = "B001", chain.branch_nodes["B001"]
    chain.wait_converged()
    saved = backup(chain, code)
    sale_id = str(uuid.uuid4())
    first = chain.sell(code, SKU, "3", sale_id=sale_id)
    assert first.status_code == 201, first.text
    chain.wait_converged()  # delivered; the till never got the answer
    on_hand = chain.branch_stock(code)[SKU]
    box_stop(chain, code)
    node.manage("restore", str(saved))
    box_start(chain, code, worker=False)

    before_replay = chain.sell(code, SKU, "3", sale_id=sale_id)
    chain.workers[code] = CeleryWorker(node).start()
    chain.beats[code] = CeleryBeat(node).start()
    poll(lambda: chain.sync_status(code)["recovery_state"] == "idle", timeout=90, what="the replay done")
    chain.wait_converged(timeout=90)
    after_replay = chain.sell(code, SKU, "3", sale_id=sale_id)

    assert before_replay.status_code == 201, "the box could not know the sale yet"
    assert after_replay.status_code == 200, after_replay.text
    assert after_replay.json()["number"] == first.json()["number"]
    assert [row for row in central_sales(chain, code) if row[0] == sale_id] == [(sale_id, first.json()["number"])]
    assert chain.branch_stock(code)[SKU] == on_hand, "the 3 units taken out once at the branch"
    assert chain.converged(code), "and once at central"
    refused = chain.central_sql(
        "SELECT kind, code FROM branches_eventproblem WHERE branch = %s AND code = 'duplicate_document'", code
    )
    assert refused == [("conflict", "duplicate_document")], "the retry's event recorded at central, not counted"
    assert chain.sync_status(code)["parked_events"] == 1
    written, stored = chain.exactly_once(code)
    assert written == stored + 1, "the refused duplicate is the only event central does not store"


def test_a_sale_number_is_never_given_twice_across_two_restores_with_sales_renumbered_between_them(chain):
    code, node = "B001", chain.branch_nodes["B001"]
    chain.wait_converged()
    first_backup = backup(chain, code)
    lost = sell(chain, code, 4, sku=SKU)
    chain.wait_converged()
    box_stop(chain, code)
    chain.proxies[code].set("refuse")
    node.manage("restore", str(first_backup))
    box_start(chain, code)
    offline = sell(chain, code, 3, sku=SKU)  # numbered from the backup on: the numbers of sales central holds
    assert {s["number"] for s in offline} & {s["number"] for s in lost}
    second_backup = backup(chain, code)  # taken before central is reached: the offline sales' numbers clash
    chain.proxies[code].set("pass")
    chain.wait_converged(timeout=90)  # recovered: the offline sales renumbered above what central holds
    renumbered = dict(chain.branch_sql(code, "SELECT id, number FROM inventory_sale"))
    box_stop(chain, code)
    node.manage("restore", str(second_backup))
    box_start(chain, code)
    more = sell(chain, code, 3, sku=SKU)
    chain.wait_converged(timeout=90)

    at_central = central_sales(chain, code)
    numbers = [number for _, number in at_central]
    assert len(numbers) == len(set(numbers)), "a sale number given twice"
    assert min(s["number"] for s in more) > max(renumbered.values())
    at_branch = dict(chain.branch_sql(code, "SELECT id, number FROM inventory_sale"))
    assert {uuid.UUID(sale_id).hex: number for sale_id, number in at_central}.items() <= at_branch.items(), (
        "the branch numbers its sales as central holds them"
    )
    stored = {row[0] for row in chain.central_sql("SELECT seq FROM branches_branchevent WHERE branch = %s", code)}
    refused = {row[0] for row in chain.central_sql("SELECT seq FROM branches_eventproblem WHERE branch = %s", code)}
    assert sorted(stored | refused) == list(range(1, max(stored) + 1)), "a seq missing at central"
    ((high_water,),) = chain.central_sql("SELECT high_water_seq FROM branches_branch WHERE code = %s", code)
    assert high_water == max(stored | refused)
    written, stored = chain.exactly_once(code)
    assert written == stored + chain.sync_status(code)["parked_events"]
