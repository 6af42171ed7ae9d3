"""Central through PgBouncer in transaction mode (docs/architecture.md, "Operating a chain"): every transaction may
land on another PostgreSQL connection, so central must keep no session state. Real ingest, change-feed pulls,
scheduled reconciliation and the dashboard's CSV export (a queryset iterator) all run through it."""

import pytest

from harness.chain import ProcessChain
from harness.processes import CeleryBeat, CeleryWorker, poll, stop_all

pytestmark = [pytest.mark.mode("central"), pytest.mark.processes]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("pgbouncer-chain"), pgbouncer=True)
    chain.central.env["RECONCILE_INTERVAL_S"] = "2"
    chain.prepare()
    chain.central.manage("install_schedule")
    chain.central.manage("create_staff", "gerencia", "--role", "manager", "--password", "pgbouncer-test-pw")
    chain.start()
    central_celery = [CeleryWorker(chain.central).start(), CeleryBeat(chain.central).start()]
    yield chain
    stop_all(central_celery)
    chain.stop()


def test_ingest_pull_and_scheduled_reconciliation_work_through_pgbouncer(chain):
    office = chain.head_office()
    created = office.put(
        f"{chain.central_web.url}/api/v1/products/FRU-KIWI",
        json={"name": "Kiwi", "unit": "kg", "price": "3.10"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    for code in chain.branch_codes:
        # The branch learns the new product from the change feed (a pull through PgBouncer at central).
        poll(
            lambda code=code: chain.pos(code).get(f"{chain.webs[code].url}/api/v1/stock/FRU-KIWI", timeout=5).ok,
            timeout=60,
            what=f"FRU-KIWI pulled by {code}",
        )
        chain.receive(code, {"FRU-KIWI": "20"})
        for _ in range(5):
            assert chain.sell(code, "FRU-KIWI", "1.250").status_code == 201
            assert chain.sell(code, "LAC-LECHE-1L", "1").status_code == 201

    chain.wait_converged(timeout=90)
    for code in chain.branch_codes:
        written, stored = chain.exactly_once(code)
        assert written == stored
        assert chain.central_stock(code)["FRU-KIWI"] == "13.750"
    finished_before = chain.central_sql("SELECT count(*) FROM reconciliation_reconciliationrun")[0][0]
    poll(
        lambda: (
            chain.central_sql("SELECT count(*) FROM reconciliation_reconciliationrun WHERE finished_at IS NOT NULL")[0][
                0
            ]
            > finished_before
        ),
        timeout=60,
        what="a scheduled reconciliation pass through pgbouncer",
    )
    assert chain.pgbouncer.show("STATS")[chain.database]["total_xact_count"] > 0


def test_the_dashboard_and_its_csv_export_work_through_pgbouncer(chain):
    session = chain.web_login("gerencia", "pgbouncer-test-pw")

    page = session.get(f"{chain.central_web.url}/dashboard/", timeout=10)
    export = session.get(f"{chain.central_web.url}/dashboard/discrepancies.csv", timeout=10)

    assert page.status_code == 200
    assert export.status_code == 200
    assert export.text.lstrip("\ufeff").splitlines()[0].startswith("id;")  # Spanish: ";" between cells
