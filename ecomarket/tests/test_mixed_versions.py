"""A chain upgrading store by store runs two releases side by side. The previous release (its commit recorded in
pyproject.toml, checked out with a venv of its own: harness/releases.py) runs as real processes against this one,
both ways, on loopback:

- a store of the previous release against this head office: sales, a return, a void and a stock snapshot reach it
  exactly once, a price change comes back; then the store is upgraded in place and carries on, now named by its
  release at head office;
- a store of this release against the previous head office: the same, plus the cash drawer, whose events the older
  head office rejects as unknown; the store parks them and keeps delivering the rest. Head office is upgraded (its
  database migrated once), the parked events are re-sent and arrive, nothing lost or doubled; then head office is
  rolled back to the previous release's code on that database (CHANGELOG.md says it may be) and still takes pushes
  and registers a branch.
"""

import os

import pytest

from ecomarket.version import VERSION
from harness.chain import ProcessChain, every_row, token_from
from harness.processes import ROOT, CeleryBeat, CeleryWorker, Node, WebServer, poll
from harness.releases import previous_release, release_checkout

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

SNAPSHOT = "from branches.tasks import stock_snapshot_task\nstock_snapshot_task()\n"
RESEND = "from branches.push import parked_events_retry\nparked_events_retry()\n"
SYNC_TIMEOUT_S = 60
# What _sell_return_void writes, by event type.
DOCUMENTS = {"sale.completed", "return.completed", "sale.voided", "stock.snapshot"}


@pytest.fixture(scope="module")
def previous():
    return release_checkout(previous_release())


def _chain(tmp_path) -> ProcessChain:
    return ProcessChain(
        tmp_path,
        branches=("B001",),
        postgres_url=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0],
        web_workers=1,
    )


def _run_as(node: Node, *, python: str, root) -> None:
    node.python, node.root = python, root


def _ok(answer, status=(200, 201)):
    assert answer.status_code in status, answer.text
    return answer.json()


def _branch_restart(chain: ProcessChain, code: str) -> None:
    """Stop the store's services, migrate with the code its node now runs, start them again (docs/operations.md,
    "Upgrading")."""
    node = chain.branch_nodes[code]
    for process in (chain.webs[code], chain.workers[code], chain.beats[code]):
        process.stop()
    node.manage("migrate", "--no-input", "-v", "0")
    chain.webs[code] = WebServer(node, workers=1).start()
    chain.workers[code] = CeleryWorker(node).start()
    chain.beats[code] = CeleryBeat(node).start()


def _central_restart(chain: ProcessChain, *, migrate: bool) -> None:
    chain.central_web.stop()
    if migrate:
        chain.central.manage("migrate", "--no-input", "-v", "0")
    chain.central_web = WebServer(chain.central, port=chain.central_port, workers=1).start()


def _sell_return_void(chain: ProcessChain, code: str, *, register: str = "", manager: str = "gerente") -> None:
    """A sale, a return of part of it and a voided sale, at the store's API (as a till would, on ``register``), and
    a stock snapshot."""
    store, node = chain.webs[code].url, chain.branch_nodes[code]
    pos, boss = chain.pos(code), chain.pos(code)
    boss.headers["Authorization"] = f"Token {token_from(node.manage('create_staff', manager, '--role', 'manager'))}"
    till = {"register": register} if register else {}
    sale = _ok(pos.post(f"{store}/api/v1/sales", json={"lines": [{"sku": "LAC-LECHE-1L", "quantity": "3"}], **till}))
    body = {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], **till}
    _ok(pos.post(f"{store}/api/v1/returns", json=body))
    voided = _ok(pos.post(f"{store}/api/v1/sales", json={"lines": [{"sku": "BEB-AGUA-2L", "quantity": "2"}], **till}))
    _ok(boss.post(f"{store}/api/v1/sales/{voided['id']}/void", json={"reason": "wrong item", **till}))
    node.manage("shell", "-c", SNAPSHOT)


def _price_changed_at_head_office(chain: ProcessChain, code: str, price: str) -> None:
    _ok(chain.head_office().put(f"{chain.central_web.url}/api/v1/products/PAN-MOLDE", json={"price": price}))
    poll(
        lambda: (
            chain.branch_sql(code, "SELECT price FROM inventory_product WHERE sku = 'PAN-MOLDE'")[0][0]
            in (price, float(price))
        ),
        timeout=SYNC_TIMEOUT_S,
        interval=0.2,
        what="the price change pulled",
    )


def _types_at_central(chain: ProcessChain, code: str) -> set[str]:
    return {row[0] for row in chain.central_sql("SELECT type FROM branches_branchevent WHERE branch = %s", code)}


def _release_at_central(chain: ProcessChain, code: str) -> str:
    return chain.central_sql("SELECT software_version FROM branches_branch WHERE code = %s", code)[0][0]


def test_a_store_of_the_previous_release_syncs_with_this_head_office_and_then_upgrades(previous, tmp_path):
    chain = _chain(tmp_path)
    _run_as(chain.branch_nodes["B001"], python=previous.python, root=previous.root)
    try:
        chain.prepare().start()

        _sell_return_void(chain, "B001")
        _price_changed_at_head_office(chain, "B001", "2.75")
        chain.wait_converged(timeout=SYNC_TIMEOUT_S)

        assert _types_at_central(chain, "B001") >= DOCUMENTS
        written, held = chain.exactly_once("B001")
        assert written == held
        assert _release_at_central(chain, "B001") == ""  # the previous release names none

        _run_as(chain.branch_nodes["B001"], python=chain.central.python, root=ROOT)  # the store upgraded in place
        _branch_restart(chain, "B001")
        _sell_return_void(chain, "B001", manager="gerente2")
        _price_changed_at_head_office(chain, "B001", "2.95")
        chain.wait_converged(timeout=SYNC_TIMEOUT_S)

        written_after, held_after = chain.exactly_once("B001")
        assert written_after == held_after > held
        assert _release_at_central(chain, "B001") == VERSION
    finally:
        chain.stop()


def test_a_store_of_this_release_parks_what_the_previous_head_office_does_not_know_until_it_is_upgraded(
    previous, tmp_path
):
    chain = _chain(tmp_path)
    _run_as(chain.central, python=previous.python, root=previous.root)
    try:
        chain.prepare().start()
        store, pos = chain.webs["B001"].url, chain.pos("B001")
        session = _ok(pos.post(f"{store}/api/v1/cash-sessions", json={"register": "T1", "opening_float": "100.00"}))

        _sell_return_void(chain, "B001", register="T1")
        _price_changed_at_head_office(chain, "B001", "2.75")
        poll(lambda: chain.sync_status("B001")["pending_events"] == 0, timeout=SYNC_TIMEOUT_S, what="outbox drained")

        assert _types_at_central(chain, "B001") >= DOCUMENTS
        assert not any(kind.startswith("cash.") for kind in _types_at_central(chain, "B001"))
        parked = chain.branch_sql("B001", "SELECT type FROM branches_outboxevent WHERE state = 'parked'")
        assert {row[0] for row in parked} == {"cash.session_opened"}

        # Head office upgraded: migrated once, restarted on the same port; the store re-sends what it parked.
        _run_as(chain.central, python=chain.branch_nodes["B001"].python, root=ROOT)
        _central_restart(chain, migrate=True)
        drawer = _ok(pos.get(f"{store}/api/v1/cash-sessions/{session['id']}/report"))["expected_cash"]
        _ok(pos.post(f"{store}/api/v1/cash-sessions/{session['id']}/close", json={"counted": {"cash": drawer}}))
        chain.branch_nodes["B001"].manage("shell", "-c", RESEND)
        poll(
            lambda: chain.sync_status("B001")["pending_events"] == chain.sync_status("B001")["parked_events"] == 0,
            timeout=SYNC_TIMEOUT_S,
            interval=0.2,
            what="parked events delivered after the upgrade",
        )

        written, held = chain.exactly_once("B001")
        assert written == held
        assert {"cash.session_opened", "cash.session_closed"} <= _types_at_central(chain, "B001")
        sessions = every_row(chain.head_office(), f"{chain.central_web.url}/api/v1/cash-sessions", {"branch": "B001"})
        assert [(row["register"], row["status"]) for row in sessions] == [("T1", "closed")]
        assert _release_at_central(chain, "B001") == VERSION

        # Rolled back: the previous release's code on the migrated database, no migration run.
        _run_as(chain.central, python=previous.python, root=previous.root)
        _central_restart(chain, migrate=False)
        _ok(chain.pos("B001").post(f"{store}/api/v1/sales", json={"lines": [{"sku": "PAN-MOLDE", "quantity": "1"}]}))
        chain.wait_converged(timeout=SYNC_TIMEOUT_S)
        assert "credential:" in chain.central.manage("register_branch", "B009")
        written_back, held_back = chain.exactly_once("B001")
        assert written_back == held_back == held + 1
    finally:
        chain.stop()
