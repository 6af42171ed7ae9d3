"""The chain simulator at N=20 against central under gunicorn on PostgreSQL, with an admission limit of one slot
and central killed and restarted mid-run: every event any branch made is stored exactly once. A correctness check
of exactly-once at concurrency; the timings are bench/chain_scale.py's business, never asserted here."""

import asyncio

import pytest

from harness.chain import ProcessChain
from harness.chainsim import SimChain, SimSettings, exactly_once_report

pytestmark = [pytest.mark.mode("central"), pytest.mark.processes]

BRANCHES = [f"S{number:03d}" for number in range(1, 21)]
QUICK = SimSettings(sale_interval_s=0.5, pull_interval_s=1.0, sweep_s=1.0, snapshot_interval_s=2.0, backoff_cap_s=2.0)


@pytest.fixture
def chain(tmp_path):
    chain = ProcessChain(tmp_path, branches=())
    # One slot and one place to wait for it, briefly: with 20 branches pushing at once many requests meet a full
    # central and must come back later.
    chain.central.env.update(
        {
            "SYNC_ADMISSION_SLOTS": "1",
            "SYNC_ADMISSION_PULL_SLOTS": "1",
            "SYNC_ADMISSION_QUEUE": "1",
            "SYNC_ADMISSION_WAIT_S": "0.2",
            "SYNC_ADMISSION_RETRY_AFTER_S": "1",
        }
    )
    chain.prepare()
    yield chain
    chain.stop()


async def _sell_through_an_outage(chain: ProcessChain, credentials: dict[str, str]) -> SimChain:
    sim = SimChain(chain.central_web.url, credentials, QUICK)
    sim.start()
    try:
        selling = asyncio.create_task(sim.sell_for(8))
        await asyncio.sleep(3)
        await asyncio.to_thread(chain.central_web.kill)
        await asyncio.sleep(2)
        await asyncio.to_thread(chain.central_web.start)
        await selling
        await sim.drained(timeout=120)
    finally:
        await sim.close()
    return sim


def test_twenty_branches_through_an_outage_store_every_event_exactly_once(chain):
    credentials = chain.register(BRANCHES)
    chain.start()

    sim = asyncio.run(_sell_through_an_outage(chain, credentials))

    stored = [
        (code, str(event_id), seq)
        for code, event_id, seq in chain.central_sql("SELECT branch, id, seq FROM branches_branchevent")
    ]
    report = exactly_once_report(sim.history(), stored)
    assert sorted(credentials) == BRANCHES
    assert sim.stats.problems == []
    assert report["made"] > len(BRANCHES)  # more than the opening receipts: the tills sold
    assert (report["lost"], report["doubled"], report["foreign"]) == (0, 0, 0), report
    assert report["stored"] == report["made"]
