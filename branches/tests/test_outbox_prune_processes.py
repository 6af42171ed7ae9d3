"""A pruned outbox against a real central: the store's next worker asks central where its history ends (as after
every start) and finds nothing to recover, its next events continue the seqs, and central holds every seq once.
Real processes: central under gunicorn on PostgreSQL, the branch under gunicorn on SQLite with its worker and beat."""

import uuid

import pytest

from harness.chain import ProcessChain
from harness.processes import CeleryWorker

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

PRUNE = (
    "from datetime import timedelta; from django.conf import settings; from django.utils import timezone; "
    "from branches.outbox import outbox_delivered_prune; "
    "print('pruned:', outbox_delivered_prune(now=timezone.now() + timedelta(days=settings.OUTBOX_RETENTION_DAYS + 1)))"
)


@pytest.fixture
def chain(tmp_path):
    chain = ProcessChain(tmp_path, branches=("B001",))
    chain.prepare().start()
    yield chain
    chain.stop()


def sell(chain, count: int) -> None:
    for _ in range(count):
        assert chain.sell("B001", "ALM-ARROZ-1K", "1", sale_id=str(uuid.uuid4())).status_code == 201


def test_a_pruned_branch_is_not_taken_for_a_restored_one_and_its_seqs_continue(chain):
    sell(chain, 4)
    chain.wait_converged(timeout=60)
    (newest,) = chain.branch_sql("B001", "SELECT max(seq) FROM branches_outboxevent")[0]

    output = chain.branch_nodes["B001"].manage("shell", "-c", PRUNE)
    assert f"pruned: {newest - 1}" in output
    # A new worker process asks central before its first push (branches/recovery.py recovery_due).
    chain.workers["B001"].kill()
    chain.workers["B001"] = CeleryWorker(chain.branch_nodes["B001"]).start()
    sell(chain, 2)
    chain.wait_converged(timeout=60)

    assert chain.branch_sql("B001", "SELECT seq FROM branches_outboxevent ORDER BY seq") == [
        (seq,) for seq in range(newest, newest + 3)
    ]  # nothing replayed back from central, and the new events right after the newest kept
    assert chain.sync_status("B001")["recovery_state"] == "idle"
    central = [row[0] for row in chain.central_sql("SELECT seq FROM branches_branchevent ORDER BY seq")]
    assert central == list(range(1, newest + 3))
    assert chain.central_sql("SELECT count(*) FROM branches_eventproblem") == [(0,)]
