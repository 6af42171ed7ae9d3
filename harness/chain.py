"""A whole chain on one machine as real processes, all on loopback: central under gunicorn on its own fresh
PostgreSQL database (optionally behind PgBouncer, and optionally with the branches' /api/v1/sync/ served by a
gunicorn pool of its own, as in production), branches under gunicorn on SQLite, each branch with a Celery worker
and beat on Redis, and a FaultProxy between each branch and central. Central gets no worker or beat of its own: a
test that needs them starts them on ``chain.central``. Used by the end-to-end tests, the fault-injection soak and
the benchmarks; ``harness.chainsim`` simulates many more branches without their processes.
"""

import os
import re
import sqlite3
import uuid
from pathlib import Path

import psycopg
import redis
import requests

from harness.faults import FaultProxy
from harness.pgbouncer import PgBouncer
from harness.processes import CeleryBeat, CeleryWorker, Node, WebServer, poll, port_free, stop_all


class ProcessChain:
    """Central and ``branches`` as real server processes (``prepare`` makes their databases, users and
    credentials; ``start`` starts them; ``stop`` stops them and drops central's database), and the calls a test
    makes to them: sell at a branch, read either side's stock and SQL, wait until they agree.

    Named for the processes: ``SimChain`` (harness/chainsim.py) is the other chain, branches simulated as asyncio
    clients in one process.
    """

    def __init__(
        self,
        root: Path,
        *,
        branches: tuple[str, ...] = ("B001", "B002"),
        postgres_url: str | None = None,
        redis_url: str | None = None,
        first_redis_db: int = 10,
        sweep_s: float = 1.0,
        web_workers: int = 2,
        sync_workers: int = 0,
        branch_env: dict[str, dict[str, str]] | None = None,
        pgbouncer: bool = False,
        central_env: dict[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        """``pgbouncer``: central's processes reach PostgreSQL through PgBouncer in transaction mode, as in a
        production with many central processes (the chain creates and drops its database directly).
        ``sync_workers``: central runs a second gunicorn with that many workers for the branches (they reach it,
        through their proxies, at ``sync_url``), while ``central_web`` serves managers (deploy/systemd/central/:
        ecomarket-sync and ecomarket-web). 0: one gunicorn serves both."""
        self.root = root
        # The test run's own PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL), so two runs on one machine
        # with different ones never share a broker database.
        postgres_url = postgres_url or os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        redis_url = redis_url or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
        self.postgres_url = postgres_url
        self.database = f"ecm_chain_{uuid.uuid4().hex[:10]}"
        self.web_workers = web_workers
        self.pgbouncer = PgBouncer(postgres_url) if pgbouncer else None
        self.central = Node(
            mode="central",
            data_dir=root / "central",
            env={
                "DATABASE_URL": self.pgbouncer.url(self.database)
                if self.pgbouncer
                else re.sub(r"/[^/]*$", f"/{self.database}", postgres_url),
                "DATABASE_TRANSACTION_POOLING": "true" if pgbouncer else "false",
                "CELERY_BROKER_URL": f"{redis_url}/{first_redis_db}",
                **(central_env or {}),
            },
            **({"python": python} if python else {}),
        )
        self.central_port = port_free()
        self.sync_workers = sync_workers
        self.central_sync_port = port_free() if sync_workers else None
        self.branch_codes = branches
        self.branch_nodes: dict[str, Node] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self.redis_urls = [f"{redis_url}/{first_redis_db + i}" for i in range(len(branches) + 1)]
        for index, code in enumerate(branches, start=1):
            self.branch_nodes[code] = Node(
                mode="branch",
                data_dir=root / code,
                env={
                    "BRANCH_CODE": code,
                    "CELERY_BROKER_URL": f"{redis_url}/{first_redis_db + index}",
                    "SYNC_PUSH_SWEEP_S": str(sweep_s),
                    "SYNC_PULL_INTERVAL_S": str(sweep_s),
                    "STOCK_SNAPSHOT_INTERVAL_S": "3600",
                    **(branch_env or {}).get(code, {}),
                },
                **({"python": python} if python else {}),
            )
        self.central_web: WebServer | None = None
        self.central_sync: WebServer | None = None
        self.webs: dict[str, WebServer] = {}
        self.workers: dict[str, CeleryWorker] = {}
        self.beats: dict[str, CeleryBeat] = {}
        self.manager_token = ""
        self.cashier_tokens: dict[str, str] = {}

    # ----------------------------------------------------------------------------------------------------------
    # Life cycle
    # ----------------------------------------------------------------------------------------------------------

    def prepare(self) -> "ProcessChain":
        for url in self.redis_urls:
            redis.Redis.from_url(url).flushdb()
        with psycopg.connect(self.postgres_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        if self.pgbouncer:
            self.pgbouncer.start()
        self.central.manage("migrate", "--no-input", "-v", "0")
        self.central.manage("load_demo_catalog")
        self.manager_token = token_from(self.central.manage("create_staff", "jefa", "--role", "manager"))
        for code, node in self.branch_nodes.items():
            credential = re.search(r"credential: (\S+)", self.central.manage("register_branch", code)).group(1)
            proxy = FaultProxy(self.central_sync_port or self.central_port)
            self.proxies[code] = proxy
            node.env.update({"BRANCH_CREDENTIAL": credential, "CENTRAL_URL": proxy.url})
            node.manage("migrate", "--no-input", "-v", "0")
            node.manage("load_demo_catalog")
            self.cashier_tokens[code] = token_from(node.manage("create_staff", "caja", "--role", "cashier"))
        return self

    def register(self, codes: list[str]) -> dict[str, str]:
        """Register branches at central in one ``manage.py register_branch`` run; code -> credential (for
        simulated branches, which have no node of their own)."""
        output = self.central.manage("register_branch", *codes, timeout=600)
        return dict(re.findall(r"branch: (\S+).*\ncredential: (\S+)", output))

    def start(self) -> "ProcessChain":
        # Each process is recorded before it is started, so stop() reaches one that never became healthy.
        self.central_web = WebServer(self.central, port=self.central_port, workers=self.web_workers)
        self.central_web.start()
        if self.sync_workers:
            self.central_sync = self.central_sync_pool()
            self.central_sync.start()
        for code, node in self.branch_nodes.items():
            self.webs[code] = WebServer(node, workers=self.web_workers)
            self.webs[code].start()
            self.workers[code] = CeleryWorker(node).start()
            self.beats[code] = CeleryBeat(node).start()
        return self

    def central_sync_pool(self) -> WebServer:
        """Central's sync pool (not started): its own port, log and metric files."""
        return WebServer(self.central, port=self.central_sync_port, workers=self.sync_workers, pool="sync")

    @property
    def central_pools(self) -> list[WebServer]:
        """Every gunicorn of central that exists: one, or the managers' and the sync pool."""
        return [web for web in (self.central_web, self.central_sync) if web is not None]

    @property
    def sync_url(self) -> str:
        """Where a branch reaches central's sync API directly (not through a proxy): the sync pool if it has one."""
        return (self.central_sync or self.central_web).url

    def stop(self) -> None:
        processes = [*self.central_pools, *self.webs.values(), *self.workers.values(), *self.beats.values()]
        stop_all(processes)
        for proxy in self.proxies.values():
            proxy.close()
        if self.pgbouncer:
            self.pgbouncer.stop()
        try:
            with psycopg.connect(self.postgres_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        except psycopg.Error:
            pass

    # ----------------------------------------------------------------------------------------------------------
    # Talking to it
    # ----------------------------------------------------------------------------------------------------------

    def pos(self, code: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Token {self.cashier_tokens[code]}"
        return session

    def head_office(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Token {self.manager_token}"
        return session

    def web_login(self, username: str, password: str) -> requests.Session:
        """A browser-like session logged in to central's pages (the dashboard) with the login form."""
        session = requests.Session()
        session.trust_env = False
        login = f"{self.central_web.url}/login/"
        session.get(login, timeout=10).raise_for_status()
        answer = session.post(
            login,
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["ecomarket_central_csrftoken"],
            },
            headers={"Referer": login},
            timeout=10,
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"web login as {username} failed: {answer.status_code}")
        return session

    def sell(
        self, code: str, sku: str, quantity: str, session: requests.Session | None = None, sale_id: str | None = None
    ) -> requests.Response:
        body = {"lines": [{"sku": sku, "quantity": quantity}], **({"id": sale_id} if sale_id else {})}
        return (session or self.pos(code)).post(f"{self.webs[code].url}/api/v1/sales", json=body, timeout=30)

    def receive(self, code: str, quantities: dict[str, str]) -> None:
        """Goods received at a branch through its API (e.g. plenty of stock, so a load measures selling)."""
        self.pos(code).post(
            f"{self.webs[code].url}/api/v1/stock/receipts",
            json={"lines": [{"sku": sku, "quantity": quantity} for sku, quantity in quantities.items()]},
            timeout=30,
        ).raise_for_status()

    def branch_stock(self, code: str) -> dict[str, str]:
        rows = every_row(self.pos(code), f"{self.webs[code].url}/api/v1/stock")
        return {row["sku"]: row["on_hand"] for row in rows}

    def central_stock(self, code: str) -> dict[str, str]:
        rows = every_row(self.head_office(), f"{self.central_web.url}/api/v1/inventory", params={"branch": code})
        return {row["sku"]: row["on_hand"] for row in rows}

    def sync_status(self, code: str) -> dict:
        return self.pos(code).get(f"{self.webs[code].url}/api/v1/sync/status", timeout=10).json()

    def converged(self, code: str) -> bool:
        """The branch's outbox is drained and central's on-hand equals the branch's for every SKU it holds."""
        if self.sync_status(code)["pending_events"]:
            return False
        return _nonzero(self.branch_stock(code)) == _nonzero(self.central_stock(code))

    def wait_converged(self, timeout: float = 30) -> None:
        for code in self.branch_codes:
            poll(lambda code=code: self.converged(code), timeout=timeout, interval=0.2, what=f"{code} converged")

    def central_sql(self, sql: str, *params):
        with psycopg.connect(self.central.env["DATABASE_URL"]) as db:
            return db.execute(sql, params).fetchall()

    def branch_sql(self, code: str, sql: str, *params):
        path = self.branch_nodes[code].data_dir / "db.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def exactly_once(self, code: str) -> tuple[int, int]:
        """(events in the branch's outbox, distinct events central stores for it) — equal when nothing is lost or
        doubled. Also fails if central holds an id the branch does not."""
        branch_ids = {row[0].replace("-", "") for row in self.branch_sql(code, "SELECT id FROM branches_outboxevent")}
        central_ids = {
            row[0].hex for row in self.central_sql("SELECT id FROM branches_branchevent WHERE branch = %s", code)
        }
        assert central_ids <= branch_ids, "central holds events the branch never wrote"
        return len(branch_ids), len(central_ids)


def _nonzero(levels: dict[str, str]) -> dict[str, str]:
    return {sku: on_hand for sku, on_hand in levels.items() if float(on_hand) != 0}


def every_row(session: requests.Session, url: str, params: dict | None = None, page_size: int = 1000) -> list[dict]:
    """Every row of a paginated list (``{"next", "results"}``), following ``next`` to the last page."""
    rows = []
    answer = session.get(url, params={**(params or {}), "page_size": page_size}, timeout=10)
    while True:
        answer.raise_for_status()
        body = answer.json()
        rows += body["results"]
        if not body["next"]:
            return rows
        answer = session.get(body["next"], timeout=10)


def token_from(output: str) -> str:
    """The API token ``manage.py create_staff`` printed when it issued one."""
    return re.search(r"token: ([0-9a-f]{40})", output).group(1)
