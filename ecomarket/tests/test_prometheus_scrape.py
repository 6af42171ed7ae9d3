"""A real scrape: Debian's Prometheus server (``/usr/bin/prometheus``, on loopback, in a temporary folder, stopped at
the end) scrapes a live central and branch, and what it stored is read back through its HTTP API (docs/architecture.md).
Central runs as in production, a managers' gunicorn and a sync pool, scraped as deploy/prometheus/prometheus.yml's
central job does (its pool labels and relabelling). Also here, on the same chain: a push's request id is the same
in the branch's worker log and in central's sync pool's."""

import json
import os
import signal
import subprocess
import uuid

import pytest
import requests
import yaml

from harness.chain import ProcessChain
from harness.processes import ROOT, poll, port_free

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]

PROMETHEUS = "/usr/bin/prometheus"
TOKEN = f"scrape-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = ProcessChain(tmp_path_factory.mktemp("scraped"), branches=("B001",), sync_workers=1)
    for node in (chain.central, *chain.branch_nodes.values()):
        node.env.update({"METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json"})
    chain.prepare().start()
    yield chain
    chain.stop()


@pytest.fixture(scope="module")
def prometheus(chain, tmp_path_factory):
    """Prometheus scraping central's two pools and B001 every second, with the repository's alert rules loaded.
    Central's job is the sample's, its targets the pools here (each pool's /metrics directly: that nginx serves the
    sync pool's at /metrics/sync is tested in test_deploy.py)."""
    folder = tmp_path_factory.mktemp("prometheus")
    port = port_free()
    sample = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (central,) = [job for job in sample["scrape_configs"] if job["job_name"] == "ecomarket-central"]
    pools = {"web": chain.central_web, "sync": chain.central_sync}
    central_targets = [
        {
            "targets": [pools[group["labels"]["pool"]].url.removeprefix("http://")],
            "labels": {"pool": group["labels"]["pool"]},
        }
        for group in central["static_configs"]
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "deploy" / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "ecomarket-central",
                "authorization": {"credentials": TOKEN},
                "static_configs": central_targets,
                "metric_relabel_configs": central["metric_relabel_configs"],
            },
            {
                "job_name": "ecomarket-branches",
                "authorization": {"credentials": TOKEN},
                "static_configs": [{"targets": [chain.webs["B001"].url.removeprefix("http://")]}],
            },
        ],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (folder / "prometheus.log").open("wb")
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        poll(
            lambda: query(api, 'count(up{job=~"ecomarket-.*"} == 1)') == 3, timeout=60, interval=0.5, what="targets up"
        )
        yield api
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def query(api: str, promql: str) -> float | None:
    """The value of an instant query with one result, or None when it has none yet."""
    answer = requests.get(f"{api}/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def central_events(chain) -> int:
    return chain.central_sql("SELECT count(*) FROM branches_branchevent")[0][0]


ACCEPTED = 'sum(ecomarket_ingest_events_total{job="ecomarket-central",outcome="accepted"})'
SALES = 'sum(ecomarket_sales_total{job="ecomarket-branches"})'
PENDING = 'ecomarket_outbox_pending_events{job="ecomarket-branches"}'


def test_a_sale_shows_in_the_branch_sales_counter_and_in_central_accepted_events(chain, prometheus):
    """Accepted events summed over central's pools equal what central stored: each pool's /metrics counts its own
    (two pools sharing one metrics folder would each report both, and the sum would double)."""
    chain.wait_converged(timeout=60)
    poll(lambda: query(prometheus, ACCEPTED) == central_events(chain), timeout=30, what="accepted == stored")
    sales_before = query(prometheus, SALES)
    accepted_before = query(prometheus, ACCEPTED)

    assert chain.sell("B001", "FRU-BANANA", "1.000").status_code == 201
    chain.wait_converged(timeout=60)

    poll(lambda: query(prometheus, SALES) == sales_before + 1, timeout=30, what="the sale in the sales counter")
    poll(lambda: query(prometheus, ACCEPTED) == accepted_before + 1, timeout=30, what="the sale accepted at central")
    assert query(prometheus, ACCEPTED) == central_events(chain)
    assert query(prometheus, 'sum(ecomarket_push_attempts_total{job="ecomarket-branches",outcome="ok"})') >= 1


def test_central_state_is_scraped_once_though_both_pools_serve_it(chain, prometheus):
    poll(lambda: query(prometheus, 'count(up{job="ecomarket-central"} == 1)') == 2, timeout=30, what="both pools up")
    poll(
        lambda: query(prometheus, 'count(ecomarket_branch_high_water_seq{job="ecomarket-central",branch="B001"})'),
        timeout=30,
        what="B001's high-water mark scraped",
    )
    series = 'count(ecomarket_branch_high_water_seq{job="ecomarket-central",branch="B001"})'
    assert query(prometheus, series) == 1
    assert query(prometheus, 'count(ecomarket_database_up{job="ecomarket-central"})') == 2  # each pool's own


def test_the_outbox_gauge_rises_while_central_is_down_and_falls_after(chain, prometheus):
    chain.wait_converged(timeout=60)
    poll(lambda: query(prometheus, PENDING) == 0, timeout=30, what="an empty outbox scraped")

    for pool in chain.central_pools:
        pool.kill()
    try:
        for _ in range(3):
            assert chain.sell("B001", "FRU-BANANA", "0.500").status_code == 201
        poll(lambda: query(prometheus, PENDING) == 3, timeout=30, what="3 pending events scraped")
        poll(lambda: query(prometheus, 'max(up{job="ecomarket-central"})') == 0, timeout=30, what="central seen down")
    finally:
        for pool in chain.central_pools:
            pool.start()

    poll(lambda: query(prometheus, PENDING) == 0, timeout=60, what="the outbox drained, scraped")
    chain.wait_converged(timeout=30)


def test_a_push_carries_its_request_id_from_the_branch_worker_to_central(chain):
    chain.wait_converged(timeout=60)
    assert chain.sell("B001", "LAC-LECHE-1L", "1").status_code == 201
    chain.wait_converged(timeout=60)

    def lines(process) -> list[dict]:
        return [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]

    pushes = [r for r in lines(chain.workers["B001"]) if r["message"].startswith("push to central: ok")]
    assert pushes and all(push["request_id"] and push["branch"] == "B001" for push in pushes)
    central = lines(chain.central_sync)
    pushed_id = pushes[-1]["request_id"]
    at_central = [record for record in central if record["request_id"] == pushed_id]
    assert {record["logger"] for record in at_central} >= {"ecomarket.metrics", "gunicorn.access"}
    batch = next(record for record in at_central if record["logger"] == "ecomarket.metrics")
    assert batch["message"].startswith("batch from B001:")
    assert batch["user"] == "branch:B001" and batch["mode"] == "central"
