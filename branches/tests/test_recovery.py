"""A store box dies or is restored from backup, and central is restored from its own backup: nothing lost, nothing
forked (DESIGN.md §4 "Seqs are never reused", §8). Real processes: central under gunicorn on its own PostgreSQL
database, branches under gunicorn on SQLite with their Celery worker and beat on Redis."""

import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from ecomarket.chain import Chain, token_from
from ecomarket.processes import CeleryBeat, CeleryWorker, WebServer

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = Chain(tmp_path_factory.mktemp("recovery"), branches=("B001", "B002"))
    chain.prepare().start()
    yield chain
    chain.stop()


@pytest.fixture(autouse=True)
def healed(chain):
    yield
    for proxy in chain.proxies.values():
        proxy.set("pass")
    chain.wait_converged(timeout=90)


def sell(chain, code: str, count: int, sku: str = "ALM-ARROZ-1K") -> list[dict]:
    sales = []
    for _ in range(count):
        answer = chain.sell(code, sku, "1", sale_id=str(uuid.uuid4()))
        assert answer.status_code == 201, answer.text
        sales.append(answer.json())
    return sales


def box_stop(chain, code: str) -> None:
    """The store box dies: every one of its processes SIGKILLed at once."""
    for process in (chain.webs[code], chain.workers[code], chain.beats[code]):
        process.kill()


def box_start(chain, code: str, *, worker: bool = True) -> None:
    node = chain.branch_nodes[code]
    chain.webs[code] = WebServer(node, workers=chain.web_workers).start()
    if worker:
        chain.workers[code] = CeleryWorker(node).start()
        chain.beats[code] = CeleryBeat(node).start()


def central_sales(chain, code: str) -> list[tuple[str, int]]:
    return chain.central_sql(
        "SELECT payload->>'sale_id', (payload->>'number')::int FROM branches_branchevent "
        "WHERE branch = %s AND type = 'sale.completed'",
        code,
    )


def central_seqs(chain, code: str) -> list[int]:
    return [row[0] for row in chain.central_sql("SELECT seq FROM branches_branchevent WHERE branch = %s", code)]


def problems(chain, code: str) -> int:
    return chain.central_sql("SELECT count(*) FROM branches_eventproblem WHERE branch = %s", code)[0][0]


def test_a_branch_restored_from_its_backup_recovers_from_central_and_never_reuses_a_seq_or_number(chain):
    code = "B001"
    chain.wait_converged()
    before = sell(chain, code, 3)
    backup = Path(re.search(r"backup: (\S+)", chain.branch_nodes[code].manage("backup")).group(1))
    lost = sell(chain, code, 40)  # delivered to central, then the box dies and its file goes back to the backup
    chain.wait_converged()
    box_stop(chain, code)

    restored = chain.branch_nodes[code].manage("restore", str(backup))
    assert "new events take seqs above it" in restored, restored
    box_start(chain, code, worker=False)  # the tills are back before the worker replays anything
    during = sell(chain, code, 10)
    status = chain.sync_status(code)
    assert status["recovery_state"] == "recovering"
    assert status["recovery_progress"]["target_seq"] >= max(central_seqs(chain, code))
    chain.workers[code] = CeleryWorker(chain.branch_nodes[code]).start()
    chain.beats[code] = CeleryBeat(chain.branch_nodes[code]).start()
    after = sell(chain, code, 20)

    chain.wait_converged(timeout=90)
    assert chain.sync_status(code)["recovery_state"] == "idle"
    acknowledged = before + lost + during + after
    at_central = central_sales(chain, code)
    assert sorted(sale_id for sale_id, _ in at_central if sale_id in {s["id"] for s in acknowledged}) == sorted(
        s["id"] for s in acknowledged
    ), "every acknowledged sale at central exactly once"
    assert len({number for _, number in at_central}) == len(at_central), "a sale number used twice"
    known = dict(chain.branch_sql(code, "SELECT id, number FROM inventory_sale"))
    assert {uuid.UUID(s["id"]).hex: s["number"] for s in lost}.items() <= known.items(), "the branch knows the 40"
    assert min(s["number"] for s in during + after) > max(s["number"] for s in lost)
    assert problems(chain, code) == 0, "a conflict or rejection was recorded"
    seqs = central_seqs(chain, code)
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    written, stored = chain.exactly_once(code)
    assert written == stored
    assert chain.converged(code)


def test_a_branch_restored_while_central_is_unreachable_moves_its_clashing_sales_above_what_central_holds(chain):
    code, node = "B001", chain.branch_nodes["B001"]
    chain.wait_converged()
    backup = Path(re.search(r"backup: (\S+)", node.manage("backup")).group(1))
    lost = sell(chain, code, 8)
    chain.wait_converged()
    box_stop(chain, code)
    chain.proxies[code].set("refuse")
    node.manage("restore", str(backup))
    assert chain.branch_sql(code, "SELECT recovery_state FROM branches_syncstate") == [("check",)]
    box_start(chain, code)
    offline = sell(chain, code, 5)  # numbered from the backup on: the same numbers as sales central holds
    assert {s["number"] for s in offline} & {s["number"] for s in lost}

    chain.proxies[code].set("pass")
    chain.wait_converged(timeout=90)

    assert problems(chain, code) == 0, "a conflict or rejection was recorded"
    at_central = central_sales(chain, code)
    ids = [sale_id for sale_id, _ in at_central]
    assert len(ids) == len(set(ids)) and {s["id"] for s in lost + offline} <= set(ids)
    assert len({number for _, number in at_central}) == len(at_central), "a sale number used twice at central"
    numbers = {row[0]: row[1] for row in chain.branch_sql(code, "SELECT id, number FROM inventory_sale")}
    assert min(numbers[uuid.UUID(s["id"]).hex] for s in offline) > max(s["number"] for s in lost)
    seqs = central_seqs(chain, code)
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    written, stored = chain.exactly_once(code)
    assert written == stored


def test_a_box_rebuilt_from_nothing_matches_the_lost_one(chain):
    code = "B002"
    chain.wait_converged()
    pos, url = chain.pos(code), chain.webs[code].url
    sales = sell(chain, code, 6, sku="VER-PAPA")
    pos.post(f"{url}/api/v1/sales/{sales[0]['id']}/void", json={"reason": "mistake"}, timeout=10)
    pos.post(
        f"{url}/api/v1/returns",
        json={"sale_id": sales[1]["id"], "lines": [{"sku": "VER-PAPA", "quantity": "1"}]},
        timeout=10,
    ).raise_for_status()
    pos.post(
        f"{url}/api/v1/stock/counts", json={"lines": [{"sku": "LAC-LECHE-1L", "counted": "7"}]}, timeout=10
    ).raise_for_status()
    chain.receive(code, {"BEB-AGUA-2L": "12"})
    chain.wait_converged()

    def picture():
        return {
            "sales": sorted(chain.branch_sql(code, "SELECT id, number, status, total FROM inventory_sale")),
            "on_hand": sorted(chain.branch_sql(code, "SELECT sku, on_hand FROM inventory_stocklevel")),
            "events": sorted(chain.branch_sql(code, "SELECT id, seq, type FROM branches_outboxevent")),
            "ledger": sorted(chain.branch_sql(code, "SELECT seq, sku, quantity, kind FROM inventory_stockmovement")),
        }

    lost = picture()
    box_stop(chain, code)
    node = chain.branch_nodes[code]
    for leftover in node.data_dir.glob("db.sqlite3*"):
        leftover.unlink()  # the disk died

    output = node.manage("restore_from_central")

    assert "rebuilt: events up to seq" in output, output
    assert picture() == lost
    newest_change = chain.central_sql("SELECT coalesce(max(id), 0) FROM branches_change")[0][0]
    assert chain.branch_sql(code, "SELECT pull_cursor FROM branches_syncstate") == [(newest_change,)]
    chain.cashier_tokens[code] = token_from(node.manage("create_staff", "caja2", "--role", "cashier"))
    box_start(chain, code)
    (next_sale,) = sell(chain, code, 1)
    assert next_sale["number"] == max(number for _, number, _, _ in lost["sales"]) + 1
    chain.wait_converged(timeout=60)
    assert problems(chain, code) == 0
    written, stored = chain.exactly_once(code)
    assert written == stored


LOCAL_ONLY_PRODUCT = (
    "from inventory.models import Product\n"
    "Product.objects.get_or_create(sku='LOCAL-ONLY', defaults={'name': 'Local', 'unit': 'unit', 'price': '1.00'})\n"
)


def test_central_restored_from_a_pg_dump_gets_back_every_event_exactly_once(chain, tmp_path):
    chain.wait_converged()
    dump = tmp_path / "central.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", chain.central.env["DATABASE_URL"]], check=True, timeout=120
    )
    after_dump = {code: sell(chain, code, 15, sku="PAN-MOLDE") for code in chain.branch_codes}
    # An event central rejects after the dump: parked at the branch, and central's record of it is about to go.
    chain.branch_nodes["B001"].manage("shell", "-c", LOCAL_ONLY_PRODUCT)
    chain.pos("B001").post(
        f"{chain.webs['B001'].url}/api/v1/stock/counts", json={"lines": [{"sku": "LOCAL-ONLY", "counted": "0"}]}
    ).raise_for_status()
    chain.wait_converged()
    (parked,) = chain.branch_sql("B001", "SELECT id FROM branches_outboxevent WHERE state = 'parked'")
    parked = uuid.UUID(parked[0])

    chain.central_web.kill()
    database = chain.database
    with psycopg.connect(chain.postgres_url, autocommit=True) as db:
        db.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{database}"')
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={chain.central.env['DATABASE_URL']}", str(dump)],
        check=True,
        timeout=120,
    )
    lost_at_central = {code: central_sales(chain, code) for code in chain.branch_codes}
    for code, sales in after_dump.items():
        assert not {s["id"] for s in sales} & {sale_id for sale_id, _ in lost_at_central[code]}
    chain.central_web.start()
    more = {code: sell(chain, code, 3, sku="PAN-MOLDE") for code in chain.branch_codes}

    chain.wait_converged(timeout=90)
    for code in chain.branch_codes:
        branch_ids = {uuid.UUID(row[0]) for row in chain.branch_sql(code, "SELECT id FROM branches_outboxevent")}
        central_ids = {
            row[0] for row in chain.central_sql("SELECT id FROM branches_branchevent WHERE branch = %s", code)
        }
        assert central_ids == branch_ids - {parked}, "every event exactly once, but the rejected one"
        ids = [sale_id for sale_id, _ in central_sales(chain, code)]
        assert len(ids) == len(set(ids))
        assert {s["id"] for s in after_dump[code] + more[code]} <= set(ids)
        high_water = chain.central_sql("SELECT high_water_seq FROM branches_branch WHERE code = %s", code)[0][0]
        assert high_water == max(central_seqs(chain, code))
    # The parked event was offered again: central recorded its rejection anew, so it is a known hole, not a gap.
    assert chain.central_sql("SELECT code FROM branches_eventproblem WHERE event_id = %s", parked) == [("unknown_sku",)]
    # The change-feed half (every change reached every branch once after central's restore) belongs with the
    # feed's cursor check; add its assertions here.
