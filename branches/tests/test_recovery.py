"""A store box dies or is restored from backup, and central is restored from its own backup: nothing lost, nothing
forked (docs/protocol.md, "Seqs are never reused"). Real processes: central under gunicorn on its own PostgreSQL
database, branches under gunicorn on SQLite with their Celery worker and beat on Redis."""

import json
import re
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from harness.chain import ProcessChain, token_from
from harness.processes import CeleryBeat, CeleryWorker, WebServer, poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("recovery"), branches=("B001", "B002"))
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
    # What the feed brought the lost box: a recount request, goods on their way to it, goods it shipped to B001.
    change_insert(chain, branch=code, kind="recount", payload={"skus": ["LAC-LECHE-1L"], "note": "check"})
    transfer_send(chain, to_branch=code, lines=[{"sku": "BEB-AGUA-2L", "quantity": "4"}])
    transfer_send(chain, from_branch=code, to_branch="B001", lines=[{"sku": "VER-PAPA", "quantity": "1"}])
    newest = chain.central_sql("SELECT max(id) FROM branches_change WHERE branch = %s", code)[0][0]
    poll(
        lambda: chain.branch_sql(code, "SELECT pull_cursor FROM branches_syncstate")[0][0] >= newest,
        timeout=60,
        what=f"{code} pulled the feed",
    )
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
            "transfers": sorted(chain.branch_sql(code, "SELECT id, state FROM branches_incomingtransfer")),
            "applied": sorted(
                chain.branch_sql(
                    code,
                    "SELECT id, kind, digest FROM branches_appliedchange WHERE kind IN ('transfer', 'recount', "
                    "'adjustment')",
                )
            ),
            "recounts_open": node.manage(
                "shell", "-c", "from branches.selectors import recount_requests_open as o; print(len(o()))"
            ).split()[-1],
        }

    node = chain.branch_nodes[code]
    lost = picture()
    assert {kind for _, kind, _ in lost["applied"]} == {"transfer", "recount", "adjustment"}
    assert lost["recounts_open"] == "0", "the count answered the recount request"
    box_stop(chain, code)
    for leftover in node.data_dir.glob("db.sqlite3*"):
        leftover.unlink()  # the disk died

    output = node.manage("restore_from_central")

    assert "rebuilt: events up to seq" in output, output
    assert picture() == lost
    newest_change = chain.central_sql(
        "SELECT coalesce(max(id), 0) FROM branches_change WHERE branch IS NULL OR branch = %s", code
    )[0][0]
    assert chain.branch_sql(code, "SELECT pull_cursor FROM branches_syncstate") == [(newest_change,)]
    chain.cashier_tokens[code] = token_from(node.manage("create_staff", "caja2", "--role", "cashier"))
    box_start(chain, code)
    (next_sale,) = sell(chain, code, 1)
    assert next_sale["number"] == max(number for _, number, _, _ in lost["sales"]) + 1
    chain.wait_converged(timeout=60)
    assert problems(chain, code) == 0
    written, stored = chain.exactly_once(code)
    assert written == stored


def change_insert(chain, *, branch: str, kind: str, payload: dict) -> int:
    """A change written straight into central's feed (the recount requests a manager makes from a discrepancy)."""
    return chain.central_sql(
        "INSERT INTO branches_change (branch, kind, payload, created_at) VALUES (%s, %s, %s::jsonb, now()) "
        "RETURNING id",
        branch,
        kind,
        json.dumps(payload),
    )[0][0]


def transfer_send(chain, **body) -> dict:
    answer = chain.head_office().post(f"{chain.central_web.url}/api/v1/transfers", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def adjustments(chain, code: str, reason: str) -> tuple[int, int]:
    """How many stock.adjusted events with this reason (branch's outbox, central's ledger)."""
    at_branch = chain.branch_sql(
        code,
        "SELECT count(*) FROM branches_outboxevent WHERE type = 'stock.adjusted' AND payload LIKE ?",
        f"%{reason}%",
    )[0][0]
    at_central = chain.central_sql(
        "SELECT count(*) FROM branches_branchevent WHERE branch = %s AND type = 'stock.adjusted' "
        "AND payload->>'reason' = %s",
        code,
        reason,
    )[0][0]
    return at_branch, at_central


def price_set(chain, sku: str, price: str) -> None:
    answer = chain.head_office().put(
        f"{chain.central_web.url}/api/v1/products/{sku}", json={"price": price}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def price(chain, code: str, sku: str) -> str:
    ((value,),) = chain.branch_sql(code, "SELECT price FROM inventory_product WHERE sku = ?", sku)
    return f"{Decimal(str(value)):.2f}"


def applied_changes(chain, code: str) -> dict[int, tuple[str, str]]:
    """The change-feed items the branch recorded as applied: id → (digest, when applied)."""
    rows = chain.branch_sql(code, "SELECT id, digest, applied_at FROM branches_appliedchange")
    return {change: (digest, at) for change, digest, at in rows}


def test_a_branch_restored_from_its_backup_applies_a_feed_adjustment_once_when_it_pulls_it_again(chain):
    code, node = "B001", chain.branch_nodes["B001"]
    chain.wait_converged()
    backup = Path(re.search(r"backup: (\S+)", node.manage("backup")).group(1))
    transfer = transfer_send(
        chain, from_branch=code, to_branch="B002", lines=[{"sku": "LAC-LECHE-1L", "quantity": "2"}]
    )
    reason = f"transfer {transfer['id']} to B002"
    poll(lambda: adjustments(chain, code, reason) == (1, 1), timeout=60, what="the adjustment applied and delivered")
    chain.wait_converged()
    shipped = chain.branch_stock(code)["LAC-LECHE-1L"]
    (change,) = chain.central_sql(
        "SELECT id FROM branches_change WHERE branch = %s AND payload->>'adjustment_id' = %s", code, transfer["id"]
    )
    box_stop(chain, code)

    node.manage("restore", str(backup))
    assert chain.branch_sql(code, "SELECT pull_cursor FROM branches_syncstate")[0][0] < change[0]
    box_start(chain, code)  # its worker recovers, and pulls from the backup's cursor
    chain.wait_converged(timeout=90)
    node.manage("sync_now")  # one more pull, whatever the worker did already

    assert chain.branch_sql(code, "SELECT pull_cursor FROM branches_syncstate")[0][0] >= change[0]
    assert chain.branch_stock(code)["LAC-LECHE-1L"] == shipped
    assert adjustments(chain, code, reason) == (1, 1), "the adjustment applied twice"
    assert chain.branch_sql(code, "SELECT count(*) FROM branches_appliedchange WHERE id = ?", change[0]) == [(1,)]
    assert chain.converged(code)
    written, stored = chain.exactly_once(code)
    assert written == stored


# One page pulled (its cursor committed with it, but not yet sent to central by a next pull), then a push.
PULL_ONE_PAGE_THEN_PUSH = (
    "from branches.pull import changes_pull; from branches.push import outbox_push; "
    "changes_pull(max_pages=1); outbox_push(force=True)"
)


def test_a_box_rebuilt_from_nothing_applies_once_what_head_office_ordered_after_its_last_pull(chain):
    code, node = "B002", chain.branch_nodes["B002"]
    chain.wait_converged()
    # The box's own worker stopped, so which pull applied what is known: one pull applies goods it ships to B001
    # and a push delivers their stock.adjusted, but no later pull tells central the box applied them.
    for process in (chain.workers[code], chain.beats[code]):
        process.kill()
    delivered = transfer_send(
        chain, from_branch=code, to_branch="B001", lines=[{"sku": "BEB-AGUA-2L", "quantity": "1"}]
    )
    delivered_reason = f"transfer {delivered['id']} to B001"
    node.manage("shell", "-c", PULL_ONE_PAGE_THEN_PUSH)
    assert adjustments(chain, code, delivered_reason) == (1, 1)
    ((shipped_change,),) = chain.central_sql(
        "SELECT id FROM branches_change WHERE branch = %s AND payload->>'adjustment_id' = %s", code, delivered["id"]
    )
    ((applied_at_central,),) = chain.central_sql(
        "SELECT feed_applied_cursor FROM branches_branch WHERE code = %s", code
    )
    assert applied_at_central < shipped_change, "the rebuilt box is to pull the delivered adjustment again"
    box_stop(chain, code)
    for leftover in node.data_dir.glob("db.sqlite3*"):
        leftover.unlink()  # the disk died
    # While the box is gone, head office orders more from it, and changes a price.
    ordered = transfer_send(chain, from_branch=code, to_branch="B001", lines=[{"sku": "VER-PAPA", "quantity": "2"}])
    ordered_reason = f"transfer {ordered['id']} to B001"
    price_set(chain, "PAN-MOLDE", "3.17")

    node.manage("restore_from_central")
    chain.cashier_tokens[code] = token_from(node.manage("create_staff", "caja3", "--role", "cashier"))
    box_start(chain, code)

    poll(lambda: adjustments(chain, code, ordered_reason) == (1, 1), timeout=60, what="the order made meanwhile")
    poll(lambda: price(chain, code, "PAN-MOLDE") == "3.17", timeout=60, what="the price changed meanwhile")
    chain.wait_converged(timeout=60)
    node.manage("sync_now")  # one more pull, whatever the worker did already
    assert adjustments(chain, code, delivered_reason) == (1, 1), "an adjustment delivered before applied twice"
    assert adjustments(chain, code, ordered_reason) == (1, 1), "the order made meanwhile applied twice"
    assert not chain.branch_sql(
        code,
        "SELECT json_extract(payload, '$.change_id') AS change, count(*) FROM branches_outboxevent "
        "WHERE type = 'stock.adjusted' AND change IS NOT NULL GROUP BY change HAVING count(*) > 1",
    )
    assert chain.converged(code), "on-hand differs from central's"
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
    # Changes made after the dump, applied by the branches, then lost with central's database: a price, and goods
    # B001 ships to B002 (an adjustment at B001, a transfer in transit at B002).
    price_set(chain, "FRU-NARANJA", "1.99")
    shipped = transfer_send(chain, from_branch="B001", to_branch="B002", lines=[{"sku": "VER-PAPA", "quantity": "3"}])
    reason = f"transfer {shipped['id']} to B002"
    poll(lambda: adjustments(chain, "B001", reason) == (1, 1), timeout=60, what="B001 shipped the transfer")
    for code in chain.branch_codes:
        poll(lambda code=code: price(chain, code, "FRU-NARANJA") == "1.99", timeout=60, what=f"{code} has the price")
    incoming = uuid.UUID(shipped["id"]).hex
    poll(
        lambda: chain.branch_sql("B002", "SELECT state FROM branches_incomingtransfer WHERE id = ?", incoming),
        timeout=60,
        what="B002 has the transfer",
    )
    applied_before = {code: applied_changes(chain, code) for code in chain.branch_codes}
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
    price_set(chain, "FRU-NARANJA", "2.05")  # the runbook: head office enters again what it changed after the dump

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
    # The change feed went back too: each branch saw its cursor name a change central no longer holds (or holds
    # as another one), started over from 0, applied what head office entered again, and applied nothing twice.
    for code in chain.branch_codes:
        poll(lambda code=code: price(chain, code, "FRU-NARANJA") == "2.05", timeout=60, what=f"{code} new price")
        assert chain.sync_status(code)["last_pull_resync_at"] is not None, f"{code} never noticed the feed went back"
        applied = applied_changes(chain, code)
        again = [
            i
            for i, (digest, at) in applied_before[code].items()
            if applied[i] != (digest, at) and applied[i][0] == digest
        ]
        assert not again, f"{code} applied changes {again} a second time"
        assert not chain.branch_sql(
            code,
            "SELECT json_extract(payload, '$.change_id') AS change, count(*) FROM branches_outboxevent "
            "WHERE type = 'stock.adjusted' AND change IS NOT NULL GROUP BY change HAVING count(*) > 1",
        ), f"{code} took an adjustment out of its stock twice"
        assert chain.converged(code)
    assert adjustments(chain, "B001", reason) == (1, 1), "the shipment taken out of B001's stock once, at both ends"
    assert chain.branch_sql(
        "B002", "SELECT state FROM branches_incomingtransfer WHERE id = ?", uuid.UUID(shipped["id"]).hex
    ) == [("in_transit",)], "B002 holds the transfer once, still on its way"
