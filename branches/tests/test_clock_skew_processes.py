"""A store's real push names its clock and head office measures it: real processes (central under gunicorn on
PostgreSQL, the branch under gunicorn on SQLite with its worker and beat), both on this machine's clock, so the skew
head office keeps is the request's transit, well under a second."""

import uuid

import pytest

from harness.chain import ProcessChain
from harness.processes import poll

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


@pytest.fixture
def chain(tmp_path):
    chain = ProcessChain(tmp_path, branches=("B001",))
    chain.prepare().start()
    yield chain
    chain.stop()


def test_a_push_leaves_the_branchs_clock_skew_at_head_office(chain):
    assert chain.central_sql("SELECT clock_skew_s FROM branches_branch WHERE code = 'B001'") == [(None,)]

    assert chain.sell("B001", "ALM-ARROZ-1K", "1", sale_id=str(uuid.uuid4())).status_code == 201
    chain.wait_converged(timeout=60)

    def measured():
        (row,) = chain.central_sql("SELECT clock_skew_s FROM branches_branch WHERE code = 'B001'")
        return row if row[0] is not None else None

    (skew,) = poll(measured, timeout=30, what="the skew recorded")

    assert abs(skew) < 1.0
