"""The branch's replica of the chain's stock against a real central on loopback (gunicorn on its own PostgreSQL
database); the test process is the branch. Head office's levels are written with SQL, as its ingest leaves them."""

import re
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chain.models import ChainLevel, ChainReplicaState
from chain.pull import chain_replica_pull
from harness.chain import ProcessChain
from harness.processes import port_free

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes, pytest.mark.django_db]

NORTE = "B902"


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    """Central alone, publishing on every pull (no wait between publications)."""
    chain = ProcessChain(tmp_path_factory.mktemp("central"), branches=(), central_env={"CHAIN_STOCK_PUBLISH_S": "0"})
    chain.prepare()
    chain.central.manage("register_branch", NORTE, "--name", "Sucursal Norte")
    chain.start()
    yield chain
    chain.stop()


@pytest.fixture
def linked(central, settings, request):
    """This test's own branch at central."""
    code = f"T{abs(hash(request.node.name)) % 10**6:06d}"
    credential = re.search(r"credential: (\S+)", central.central.manage("register_branch", code)).group(1)
    settings.BRANCH_CODE = code
    settings.BRANCH_CREDENTIAL = credential
    settings.CENTRAL_URL = central.central_web.url
    return code


def level_set(central: ProcessChain, branch: str, sku: str, on_hand: str, *, written_s_ago: float = 0) -> None:
    """Central's on-hand of (branch, SKU), as an ingest would leave it (stamped ``written_s_ago``)."""
    central_write(
        central,
        "INSERT INTO inventory_stocklevel (branch, sku, on_hand, updated_at) "
        "VALUES (%s, %s, %s, now() - make_interval(secs => %s)) "
        "ON CONFLICT (branch, sku) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at",
        branch,
        sku,
        on_hand,
        written_s_ago,
    )


def central_write(central: ProcessChain, sql: str, *params) -> None:
    with psycopg.connect(central.central.env["DATABASE_URL"]) as db:
        db.execute(sql, params)


def chain_of(client, sku: str) -> list[dict]:
    answer = client.get(f"/api/v1/stock/{sku}/chain")
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_the_first_pull_copies_other_stores_figures_with_their_time(linked, shelf, central, cashier_client):
    level_set(central, NORTE, "FRU-BANANA", "4.000")
    level_set(central, linked, "FRU-BANANA", "99.000")  # this store's own figure is its local one, never central's

    summary = chain_replica_pull()

    assert summary.error == "" and summary.snapshot_pages >= 1
    rows = chain_of(cashier_client, "FRU-BANANA")
    norte = [row for row in rows if row["branch"] == NORTE]
    assert [(row["name"], row["on_hand"]) for row in norte] == [("Sucursal Norte", "4.000")]
    assert not [row for row in rows if row["branch"] == linked]
    as_of = ChainReplicaState.objects.get().as_of
    assert as_of is not None and parse_datetime(norte[0]["as_of"]) == as_of


def test_a_later_pull_brings_only_the_figures_that_changed(linked, shelf, central, cashier_client):
    level_set(central, NORTE, "LAC-LECHE-1L", "7.000")
    chain_replica_pull()
    first_as_of = ChainReplicaState.objects.get().as_of

    level_set(central, NORTE, "LAC-LECHE-1L", "6.000")
    summary = chain_replica_pull()

    assert summary.snapshot_pages == 0 and summary.batches >= 1
    assert summary.figures == 1  # the one figure that moved, not a copy of the chain
    assert [row["on_hand"] for row in chain_of(cashier_client, "LAC-LECHE-1L") if row["branch"] == NORTE] == ["6.000"]
    assert ChainReplicaState.objects.get().as_of > first_as_of


def test_a_figure_written_by_an_ingest_that_committed_late_is_still_published(linked, shelf, central):
    chain_replica_pull()
    # Stamped before the previous publication read, committed after it: within CHAIN_STOCK_OVERLAP_S.
    level_set(central, NORTE, "FRU-BANANA", "2.500", written_s_ago=30)

    chain_replica_pull()

    assert str(ChainLevel.objects.get(branch=NORTE, sku="FRU-BANANA").on_hand) == "2.500"


def test_the_replica_answers_the_same_with_central_unreachable(linked, shelf, central, cashier_client, settings):
    level_set(central, NORTE, "FRU-BANANA", "3.000")
    chain_replica_pull()
    before = chain_of(cashier_client, "FRU-BANANA")

    settings.CENTRAL_URL = f"http://127.0.0.1:{port_free()}"  # nothing listens there
    summary = chain_replica_pull()

    assert summary.error
    assert chain_of(cashier_client, "FRU-BANANA") == before
    assert ChainReplicaState.objects.get().last_error
    status = cashier_client.get("/api/v1/sync/status").json()
    assert status["chain_stock_as_of"] is not None and status["chain_stock_stale"] is False


def test_a_cursor_head_office_no_longer_holds_copies_every_figure_again(linked, shelf, central):
    level_set(central, NORTE, "LAC-LECHE-1L", "5.000")
    chain_replica_pull()
    central_write(central, "DELETE FROM chain_chainstockbatch WHERE id < (SELECT max(id) FROM chain_chainstockbatch)")
    ChainReplicaState.objects.filter(pk=1).update(cursor=1)
    ChainLevel.objects.filter(branch=NORTE).update(on_hand=0, changed_as_of=timezone.now() - timedelta(days=1))

    summary = chain_replica_pull()

    assert summary.snapshot_pages >= 1
    assert str(ChainLevel.objects.get(branch=NORTE, sku="LAC-LECHE-1L").on_hand) == "5.000"


def test_an_unknown_sku_is_404(shelf, cashier_client):
    assert cashier_client.get("/api/v1/stock/NO-SUCH/chain").status_code == 404
