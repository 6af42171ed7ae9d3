"""Fault-injection soak: prove nothing is lost (docs/architecture.md, "Invariants") with real processes, on
loopback only.

    .venv/bin/python -m harness.soak               # the CI profile (about two minutes; also run by `make test`)
    .venv/bin/python -m harness.soak --profile long  # the longer soak (about fifteen minutes)

Central under gunicorn on a fresh PostgreSQL database, three branches under gunicorn on SQLite, each with a Celery
worker and beat on Redis and a FaultProxy between it and central. POS clients sell at every branch the whole time
(each sale with a client-chosen id, retried with the same id after a network error, as a real till would), while the
fault schedule kills and restarts central, blackholes and heals each link, cuts answers after central committed,
SIGKILLs a worker mid-push and a branch server mid-load, terminates central's database connections mid-ingest,
flushes the broker, has each store write a stock snapshot in parts, has a stale credential fail authentication 50
times from the tills' own address at central and at each branch, puts a change no branch can apply in the feed and
rewinds the feed as a restore of central would. Then everything heals, the outboxes drain, and the checks run:

- every sale that got a 2xx is stored at its branch, and exactly once at central;
- central's on-hand equals each branch's for every SKU;
- the reconciliation job reports exactly the discrepancy the scenario caused on purpose (B003 may sell into
  negative and is made to oversell one SKU) and nothing else.

Every loop is bounded in count and time, and the only addresses used are 127.0.0.1.
"""

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests
from psycopg.types.json import Jsonb

from harness.chain import ProcessChain
from harness.processes import CeleryWorker, WebServer, poll

PUSH = b"POST /api/v1/sync/events"
LOAD_SKUS = [("FRU-BANANA", "0.750"), ("LAC-LECHE-1L", "1"), ("ALM-ARROZ-1K", "2"), ("VER-TOMATE", "1.135")]
OVERSOLD = ("B003", "PAN-MOLDE")
PRICED_SKU = "FRU-LIMON"  # its price changes during the soak; no till sells it
SNAPSHOT_IN_PARTS = (
    "from django.test import override_settings\n"
    "from inventory.services import stock_snapshot_record\n"
    "with override_settings(SYNC_BATCH_MAX_BYTES=400):\n"
    "    parts = stock_snapshot_record()\n"
    "print(len(parts), parts[-1].seq)\n"
)


@dataclass(frozen=True)
class Profile:
    name: str
    clients_per_branch: int
    rounds: int  # how many times the whole fault schedule runs
    max_sales_per_client: int
    converge_timeout_s: float
    # A till's pace between sales. It keeps the load going for as long as the faults take, however fast a sale
    # is: back to back, the clients once ran out of sales before the last faults, which then had nothing to push.
    pause_s: float = 0.1


PROFILES = {
    "ci": Profile("ci", clients_per_branch=2, rounds=1, max_sales_per_client=3_000, converge_timeout_s=120),
    "long": Profile(
        "long", clients_per_branch=3, rounds=6, max_sales_per_client=20_000, converge_timeout_s=300, pause_s=0.02
    ),
}


@dataclass
class Tally:
    tried: Counter = field(default_factory=Counter)
    acknowledged: dict = field(default_factory=dict)  # sale id -> branch
    refused: Counter = field(default_factory=Counter)
    gave_up: Counter = field(default_factory=Counter)
    server_errors: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TillLoad:
    """POS clients at every branch, until stopped or their sale budget runs out."""

    def __init__(self, chain: ProcessChain, profile: Profile) -> None:
        self.chain, self.profile, self.tally = chain, profile, Tally()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._client, args=(code, index), daemon=True)
            for code in chain.branch_codes
            for index in range(profile.clients_per_branch)
        ]

    def start(self) -> "TillLoad":
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> Tally:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        return self.tally

    def _client(self, code: str, index: int) -> None:
        rng = random.Random(f"{code}-{index}")
        session = self.chain.pos(code)
        for _ in range(self.profile.max_sales_per_client):
            if self.stop.is_set():
                return
            sku, quantity = rng.choice(LOAD_SKUS)
            sale_id = str(uuid.uuid4())
            with self.tally.lock:
                self.tally.tried[code] += 1
            self._sell_until_answered(code, session, sku, quantity, sale_id)
            self.stop.wait(self.profile.pause_s)  # pacing (returns at once when the run stops)

    def _sell_until_answered(self, code, session, sku, quantity, sale_id) -> None:
        """Retry with the same id while the branch server is unreachable (it may be restarting): the same id can
        never sell twice. Bounded: 40 tries, 0.25 s apart."""
        for _ in range(40):
            try:
                response = self.chain.sell(code, sku, quantity, session=session, sale_id=sale_id)
            except requests.RequestException:
                time.sleep(0.25)
                continue
            with self.tally.lock:
                if response.status_code in (200, 201):
                    self.tally.acknowledged[sale_id] = code
                elif response.status_code >= 500:
                    self.tally.server_errors.append((code, response.status_code, response.text[:200]))
                else:
                    self.tally.refused[code] += 1
            return
        with self.tally.lock:
            self.tally.gave_up[code] += 1


# How long a branch may take to show a fault's effect: a push still hanging on a blackholed link runs to its read
# timeout (20 s), then the backoff (capped at 15 s) runs before the next attempt. 30 s was too tight (seen twice).
FAULT_DEADLINE_S = 60
STORM_ATTEMPTS = 50


class FaultSchedule:
    """Every fault the soak injects, in the order ``run_once`` runs them. Each step waits (with a deadline) until
    its effect is real before it heals."""

    def __init__(self, chain: ProcessChain, log) -> None:
        self.chain, self.log = chain, log
        self.injected: Counter = Counter()
        self.price_changes = 0

    def central_restart(self) -> None:
        self.chain.central_web.kill()
        self._wait_until_branches_notice()
        self.chain.central_web.start()
        self.injected["central killed and restarted"] += 1

    def links_blackholed(self) -> None:
        for code, proxy in self.chain.proxies.items():
            proxy.set("blackhole")
            poll(lambda p=proxy: p.counts["blackholed"] > 0, timeout=30, what=f"{code}'s link blackholed")
            proxy.set("pass")
            self.injected["link blackholed and healed"] += 1

    def answers_cut(self) -> None:
        for code, proxy in self.chain.proxies.items():
            before = proxy.counts["cut"]
            proxy.set("cut", cuts=2, only=PUSH)
            poll(
                lambda p=proxy, b=before: p.counts["cut"] >= b + 2,
                timeout=FAULT_DEADLINE_S,
                what=f"{code}: answers cut",
            )
            self.injected["answer cut after central committed"] += 2

    def worker_killed_mid_push(self) -> None:
        code = self.chain.branch_codes[0]
        proxy, worker = self.chain.proxies[code], self.chain.workers[code]
        before = proxy.counts["held"]
        proxy.set("hold", cuts=1, only=PUSH)
        poll(lambda: proxy.counts["held"] > before, timeout=30, what="a push held after central committed")
        worker.kill()
        proxy.set("pass")
        self.chain.workers[code] = CeleryWorker(worker.node).start()
        self.injected["worker SIGKILLed mid-push"] += 1

    def branch_server_killed(self) -> None:
        code = self.chain.branch_codes[-1]
        server = self.chain.webs[code]
        server.kill()
        self.chain.webs[code] = WebServer(server.node, port=server.port, workers=self.chain.web_workers).start()
        self.injected["branch server SIGKILLed mid-load and restarted"] += 1

    def database_connections_terminated(self) -> None:
        killed = 0
        deadline = time.monotonic() + 20
        while killed == 0 and time.monotonic() < deadline:
            with psycopg.connect(self.chain.postgres_url, autocommit=True) as admin:
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.chain.database,),
                ).fetchall()
            killed = len(rows)
            time.sleep(0.2)
        self.injected["central database connections terminated"] += killed

    def broker_flushed(self) -> None:
        for url in self.chain.redis_urls[1:]:
            redis.Redis.from_url(url).flushdb()
        self.injected["broker flushed (queued messages lost)"] += 1

    def snapshot_in_parts(self) -> None:
        """A store whose stock snapshot is larger than half a request writes it in parts mid-load (here a tiny
        byte bound stands in for a catalog of tens of thousands of SKUs): central holds every part, and the
        final reconciliation judges it like any snapshot."""
        for code in self.chain.branch_codes:
            output = self.chain.branch_nodes[code].manage("shell", "-c", SNAPSHOT_IN_PARTS)
            parts, last = map(int, output.split()[-2:])
            if parts < 2:
                raise RuntimeError(f"{code}'s snapshot was not cut into parts: {output!r}")
            poll(
                lambda c=code, seq=last: (
                    self.chain.central_sql("SELECT high_water_seq FROM branches_branch WHERE code = %s", c)[0][0] >= seq
                ),
                timeout=FAULT_DEADLINE_S,
                interval=0.2,
                what=f"every part of {code}'s snapshot at central",
            )
            self.injected["stock snapshot written in parts"] += 1

    def credentials_stormed(self) -> None:
        """A client with a stale credential keeps failing authentication from the very address every till and push
        comes from (loopback here, the load balancer in production): it is throttled, and the valid callers at
        that address, whose sales the checks count, go on being served."""
        targets = [(f"{self.chain.central_web.url}/api/v1/sync/changes", "Branch ecb_rotated-away")]
        targets += [
            (f"{self.chain.webs[code].url}/api/v1/stock", "Token rotated-away") for code in self.chain.branch_codes
        ]
        for url, header in targets:
            with requests.Session() as client:
                client.headers["Authorization"] = header
                answers = Counter(client.get(url, timeout=10).status_code for _ in range(STORM_ATTEMPTS))
            if set(answers) - {401, 429}:
                raise RuntimeError(f"a failing credential at {url} was answered {dict(answers)}")
            self.injected[f"{STORM_ATTEMPTS} failed authentications from the tills' own address"] += 1

    def unappliable_change(self) -> None:
        """A change no branch can apply (as a central without today's checks could have written it), then a
        price change: every branch skips the first, reports it, and applies the second."""
        for code in self.chain.branch_codes:
            self._change_insert(
                code, "adjustment", {"reason": "soak", "lines": [{"sku": "NO-SUCH-SKU", "delta": "-1"}]}
            )
        self._price_reaches_every_branch()
        for code in self.chain.branch_codes:
            poll(
                lambda c=code: self.chain.central_sql(
                    "SELECT count(*) FROM branches_branchchangefailure WHERE branch = %s", c
                )[0][0],
                timeout=FAULT_DEADLINE_S,
                what=f"{code}'s failed change reported to central",
            )
        self.injected["unappliable change in the feed"] += 1

    def change_feed_rewound(self) -> None:
        """Central's change feed restored from a backup: the newest changes are lost and their ids handed out
        again. Every branch notices, pulls again from 0, and applies the new change (and nothing twice)."""
        backup = self.chain.central_sql("SELECT coalesce(max(id), 0) FROM branches_change")[0][0]
        self._price_reaches_every_branch()
        with psycopg.connect(self.chain.central.env["DATABASE_URL"], autocommit=True) as db:
            db.execute("DELETE FROM branches_change WHERE id > %s", (backup,))
            db.execute("SELECT setval(pg_get_serial_sequence('branches_change', 'id'), %s)", (max(backup, 1),))
        self._price_reaches_every_branch()
        self.injected["change feed rewound (central restored)"] += 1

    def _change_insert(self, code: str, kind: str, payload: dict) -> None:
        self.chain.central_sql(
            "INSERT INTO branches_change (branch, kind, payload, created_at) VALUES (%s, %s, %s, now()) RETURNING id",
            code,
            kind,
            Jsonb(payload),
        )

    def _price_reaches_every_branch(self) -> None:
        self.price_changes += 1
        price = f"{2 + self.price_changes / 100:.2f}"
        office = self.chain.head_office()
        office.put(
            f"{self.chain.central_web.url}/api/v1/products/{PRICED_SKU}", json={"price": price}, timeout=30
        ).raise_for_status()
        for code in self.chain.branch_codes:
            poll(
                lambda c=code: (
                    self.chain.pos(c)
                    .get(f"{self.chain.webs[c].url}/api/v1/stock/{PRICED_SKU}", timeout=10)
                    .json()["price"]
                    == price
                ),
                timeout=FAULT_DEADLINE_S,
                interval=0.2,
                what=f"{code} applying the price {price}",
            )

    def _wait_until_branches_notice(self) -> None:
        for code in self.chain.branch_codes:
            poll(
                lambda c=code: not self.chain.sync_status(c)["central_reachable"],
                timeout=FAULT_DEADLINE_S,
                interval=0.2,
                what=f"{code} noticing central is down",
            )

    def run_once(self) -> None:
        for step in (
            self.central_restart,
            self.links_blackholed,
            self.answers_cut,
            self.worker_killed_mid_push,
            self.database_connections_terminated,
            self.branch_server_killed,
            self.broker_flushed,
            self.snapshot_in_parts,
            self.credentials_stormed,
            self.unappliable_change,
            self.change_feed_rewound,
            self.central_restart,
        ):
            self.log(f"fault: {step.__name__}")
            step()


@dataclass
class Result:
    rows: list[tuple[str, str]]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(chain: ProcessChain, tally: Tally, expected_discrepancies: set) -> list[str]:
    problems = []
    for code in chain.branch_codes:
        stored = {row[0].replace("-", "") for row in chain.branch_sql(code, "SELECT id FROM inventory_sale")}
        acknowledged = {sale_id.replace("-", "") for sale_id, branch in tally.acknowledged.items() if branch == code}
        if lost := acknowledged - stored:
            problems.append(f"{code}: {len(lost)} acknowledged sale(s) missing at the branch")
        written, held = chain.exactly_once(code)
        if written != held:
            problems.append(f"{code}: branch wrote {written} events, central stores {held}")
        if not chain.converged(code):
            problems.append(f"{code}: central's on-hand differs from the branch's")
    at_central = Counter(
        row[0].hex
        for row in chain.central_sql("SELECT sale_ref FROM branches_branchevent WHERE type = 'sale.completed'")
    )
    doubled = [sale for sale, n in at_central.items() if n != 1]
    missing = [sale for sale in tally.acknowledged if at_central.get(sale.replace("-", ""), 0) != 1]
    if doubled or missing:
        problems.append(f"central: {len(missing)} acknowledged sale(s) not stored exactly once, {len(doubled)} doubled")
    if tally.server_errors:
        problems.append(f"{len(tally.server_errors)} server error(s), first: {tally.server_errors[0]}")
    chain.central.manage("reconcile", "--full")
    found = set(
        chain.central_sql(
            "SELECT branch, sku, kind FROM reconciliation_discrepancy WHERE status IN ('open', 'acknowledged')"
        )
    )
    if found != expected_discrepancies:
        problems.append(f"reconciliation found {sorted(found)}, expected exactly {sorted(expected_discrepancies)}")
    return problems


def run(profile_name: str = "ci", root: Path | None = None, log=print) -> Result:
    profile = PROFILES[profile_name]
    root = root or Path(tempfile.mkdtemp(prefix="ecomarket-soak-"))
    chain = ProcessChain(
        root,
        branches=("B001", "B002", "B003"),
        branch_env={"B003": {"BRANCH_ALLOW_NEGATIVE_STOCK": "true"}},
    )
    started = time.monotonic()
    try:
        chain.prepare().start()
        for code in chain.branch_codes:  # plenty of stock, so the load measures selling, not refusing
            chain.receive(code, {sku: "50000" for sku, _ in LOAD_SKUS})
        load = TillLoad(chain, profile).start()
        schedule = FaultSchedule(chain, log)
        for round_ in range(profile.rounds):
            log(f"round {round_ + 1} of {profile.rounds}")
            schedule.run_once()
        # On purpose: B003 sells more bread than it has (its policy allows it): one oversell, nothing else.
        code, sku = OVERSOLD
        have = chain.branch_stock(code)[sku]
        oversold = chain.sell(code, sku, str(int(float(have)) + 3))
        oversold.raise_for_status()
        tally = load.finish()
        tally.acknowledged[oversold.json()["id"]] = code
        healed_at = time.monotonic()
        for proxy in chain.proxies.values():
            proxy.set("pass")
        chain.wait_converged(timeout=profile.converge_timeout_s)
        converge_s = time.monotonic() - healed_at
        problems = check(chain, tally, {(code, sku, "oversell")})
        duplicates = sum(row[0] for row in chain.central_sql("SELECT duplicates_absorbed FROM branches_branch"))
        delivered = chain.central_sql("SELECT count(*) FROM branches_branchevent WHERE type = 'sale.completed'")[0][0]
        rows = [
            ("profile", profile.name),
            ("sales tried", str(sum(tally.tried.values()) + 1)),
            ("sales acknowledged (2xx)", str(len(tally.acknowledged))),
            ("sales refused (4xx)", str(sum(tally.refused.values()))),
            ("sales given up by the till (branch unreachable)", str(sum(tally.gave_up.values()))),
            ("sales delivered to central", str(delivered)),
            ("duplicates absorbed by central", str(duplicates)),
            *[(f"fault: {name}", str(n)) for name, n in schedule.injected.items()],
            ("time to converge after healing", f"{converge_s:.1f} s"),
            ("total time", f"{time.monotonic() - started:.0f} s"),
            ("result", "OK" if not problems else "FAILED"),
        ]
        return Result(rows=rows, problems=problems)
    finally:
        chain.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    args = parser.parse_args()
    result = run(args.profile)
    width = max(len(label) for label, _ in result.rows)
    print("\n" + "\n".join(f"{label:<{width}}  {value}" for label, value in result.rows))
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
