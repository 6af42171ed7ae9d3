"""Head office at chain scale: N simulated branches (harness/chainsim.py, the real sync protocol over HTTP, each
with its own credential) against central deployed as in production — two gunicorn pools (the branches reach the
sync pool, the manager's dashboard probe the managers' pool, which gets the CPU first), PostgreSQL behind PgBouncer
in transaction mode, Redis, a Celery worker and beat running reconciliation on its schedule — then the seed
prototype's central fed the same sales, one notification each.

    .venv/bin/python bench/chain_scale.py     (or: make bench-scale; needs `make bench-setup` once)

Phases: warm-up (every branch's opening receipt, then selling), steady state (SCALE_STEADY_S), outage (both of
central's gunicorn pools SIGKILLed for SCALE_OUTAGE_S while the branches keep selling) and return (until every
queued event is stored). Reports per phase: events/s stored, push and pull p50/p99, answers by status, central
CPU (gunicorn pools + Celery) and PostgreSQL CPU (the database's backends) in cores, PostgreSQL connections,
reconciliation pass times, dashboard page loads; at the end, the simulator's history against central's ledger
(lost / doubled / foreign).

Everything is bounded (phases in seconds, drains with deadlines) and on loopback. Environment:

    SCALE_BRANCHES=500 SCALE_SALE_INTERVAL_S=2 SCALE_STEADY_S=60 SCALE_OUTAGE_S=60 SCALE_RETURN_DEADLINE_S=300
    SCALE_WEB_WORKERS=2 SCALE_SYNC_WORKERS=12 SCALE_SLOTS=4 SCALE_PULL_SLOTS=2 SCALE_QUEUE=4 SCALE_WAIT_S=1
    SCALE_MANAGERS_NICE=-6 SCALE_CELERY_NICE=6 SCALE_PGBOUNCER=1
    SCALE_PULL_INTERVAL_S=10 SCALE_RECONCILE_INTERVAL_S=15 SCALE_SNAPSHOT_INTERVAL_S=60 SCALE_KICK_INTERVAL_S=0.25
    SCALE_PROTOTYPE=1

SCALE_WEB_WORKERS is the managers' pool, SCALE_SYNC_WORKERS the branches' (12 workers, 4 push slots, 2 pull slots
and 4 places to wait up to 1 s for one, as ecomarket-sync.service and deploy/env/central.env deploy them; keep the
slots and places below it); SCALE_SYNC_WORKERS=0 runs one gunicorn of SCALE_WEB_WORKERS for both, as the runs
before the split did (SCALE_WEB_WORKERS=4 then).
SCALE_MANAGERS_NICE stands in for ecomarket-web.service's CPUWeight=400, SCALE_CELERY_NICE for
ecomarket-worker.service's CPUWeight=25 (see weighted); 0 leaves a priority alone.
"""

import asyncio
import json
import os
import signal
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import httpx
import psutil
import psycopg
import requests
from common import PrototypeService, begin, prototype_sources, table

from harness.chain import ProcessChain
from harness.chainsim import SimChain, SimSettings, exactly_once_report
from harness.processes import CeleryBeat, CeleryWorker, Process, WebServer, poll, port_free, stop_all

BRANCHES = int(os.environ.get("SCALE_BRANCHES", "500"))
SALE_INTERVAL_S = float(os.environ.get("SCALE_SALE_INTERVAL_S", "2"))
STEADY_S = float(os.environ.get("SCALE_STEADY_S", "60"))
OUTAGE_S = float(os.environ.get("SCALE_OUTAGE_S", "60"))
RETURN_DEADLINE_S = float(os.environ.get("SCALE_RETURN_DEADLINE_S", "300"))
WEB_WORKERS = int(os.environ.get("SCALE_WEB_WORKERS", "2"))
SYNC_WORKERS = int(os.environ.get("SCALE_SYNC_WORKERS", "12"))
MANAGERS_NICE = int(os.environ.get("SCALE_MANAGERS_NICE", "-6"))
CELERY_NICE = int(os.environ.get("SCALE_CELERY_NICE", "6"))
SLOTS = int(os.environ.get("SCALE_SLOTS", "4"))
PULL_SLOTS = int(os.environ.get("SCALE_PULL_SLOTS", "2"))
QUEUE = int(os.environ.get("SCALE_QUEUE", "4"))
WAIT_S = os.environ.get("SCALE_WAIT_S", "1")
PGBOUNCER = os.environ.get("SCALE_PGBOUNCER", "1") == "1"
PROTOTYPE = os.environ.get("SCALE_PROTOTYPE", "1") == "1"
RECONCILE_INTERVAL_S = os.environ.get("SCALE_RECONCILE_INTERVAL_S", "15")
SIM = SimSettings(
    sale_interval_s=SALE_INTERVAL_S,
    pull_interval_s=float(os.environ.get("SCALE_PULL_INTERVAL_S", "10")),
    snapshot_interval_s=float(os.environ.get("SCALE_SNAPSHOT_INTERVAL_S", "60")),
    kick_interval_s=float(os.environ.get("SCALE_KICK_INTERVAL_S", "0.25")),  # the branches' SYNC_KICK_INTERVAL_S
)
MANAGER_PASSWORD = "bench-scale-manager"
BOOT_TIMEOUT_S = 120


def pct(values: list[float], q: float) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]:,.0f}"


class Sampler(threading.Thread):
    """Once a second: CPU seconds used by central's processes, by the database's PostgreSQL backends, by PgBouncer
    and by this simulator; PostgreSQL connections to the database; events stored. Per-pid deltas, so processes
    that come and go are counted while they live."""

    def __init__(self, chain: ProcessChain, groups: dict[str, Callable[[], list[int]]]) -> None:
        super().__init__(daemon=True)
        self.chain = chain
        self.groups = groups
        self.last: dict[int, float] = {}
        self.cpu: Counter = Counter()
        self.cpu_series: list[tuple[float, Counter]] = []  # (when, the CPU seconds used so far by each group)
        self.connections: list[tuple[float, int]] = []
        self.stored: list[tuple[float, int]] = []
        self.loop_lag_ms: list[float] = []
        self.halt = threading.Event()

    def _pids(self) -> dict[str, list[psutil.Process]]:
        found = {}
        for name, roots in self.groups.items():
            found[name] = []
            for pid in roots():  # asked each time: a restarted gunicorn has a new pid
                with suppress(psutil.Error):
                    root = psutil.Process(pid)
                    found[name] += [root, *root.children(recursive=True)]
        return found

    def run(self) -> None:
        with psycopg.connect(self.chain.postgres_url, autocommit=True) as admin:
            while not self.halt.wait(1.0):
                now = time.monotonic()
                backends = [
                    row[0]
                    for row in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.chain.database]
                    ).fetchall()
                ]
                self.connections.append((now, len(backends)))
                pids = self._pids()
                pids["postgres"] = [psutil.Process(pid) for pid in backends if psutil.pid_exists(pid)]
                for name, processes in pids.items():
                    for process in processes:
                        try:
                            times = process.cpu_times()
                        except psutil.Error:
                            continue
                        used = times.user + times.system
                        self.cpu[name] += used - self.last.get(process.pid, used)
                        self.last[process.pid] = used
                self.cpu_series.append((now, Counter(self.cpu)))
                try:
                    with psycopg.connect(self.chain.central.env["DATABASE_URL"], autocommit=True) as db:
                        # Each branch's gapless prefix stored (the simulator pushes in seq order): the same figure
                        # as count(*) of the ledger, without a scan of it every second (70 ms of PostgreSQL's).
                        count = db.execute(
                            "SELECT coalesce(sum(high_water_seq), 0)::bigint FROM branches_branch"
                        ).fetchone()[0]
                    self.stored.append((now, count))
                except psycopg.Error:
                    pass


class Activity(threading.Thread):
    """Five times a second: what each of the database's PostgreSQL backends is doing (the statement, and what it
    waits on, if anything). Counted per phase, a sample is a fifth of a backend-second: where PostgreSQL's time
    goes, without pg_stat_statements (which needs a server restart)."""

    INTERVAL_S = 0.2

    def __init__(self, chain: ProcessChain) -> None:
        super().__init__(daemon=True)
        self.chain = chain
        self.samples: list[tuple[float, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.chain.postgres_url, autocommit=True) as admin:
            while not self.halt.wait(self.INTERVAL_S):
                now = time.monotonic()
                for wait_type, wait, query in admin.execute(
                    "SELECT wait_event_type, wait_event, query FROM pg_stat_activity "
                    "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()",
                    [self.chain.database],
                ).fetchall():
                    what = " ".join(query.split())[:90].replace("|", "¦")
                    self.samples.append((now, f"{f'{wait_type}:{wait}' if wait_type else 'running'} · {what}"))

    def busiest(self, window: "Window", top: int = 8) -> str:
        counts = Counter(window.within(self.samples))
        rows = [[f"{n * self.INTERVAL_S / window.seconds:.2f}", key] for key, n in counts.most_common(top)]
        return table(["backends busy (mean)", "waiting on · statement"], rows)


class Window:
    """One phase's figures: what the sampler and the simulator saw between ``start`` and ``end``."""

    def __init__(self, name: str, sampler: Sampler, sim: SimChain) -> None:
        self.name, self.sampler, self.sim = name, sampler, sim
        self.start, self.wall_start, self.wall_end = time.monotonic(), time.time(), None
        self.passes: list[float] = []  # the reconciliation passes that started in this phase, their seconds
        self.cpu_start = Counter(sampler.cpu)
        self.statuses_start = Counter(sim.stats.statuses)
        self.end = None
        self.cpu: Counter = Counter()
        self.statuses: Counter = Counter()
        self.dashboard_ms: list[float] = []

    def close(self) -> "Window":
        self.end, self.wall_end = time.monotonic(), time.time()
        self.cpu = Counter(self.sampler.cpu)
        self.cpu.subtract(self.cpu_start)
        self.statuses = Counter(self.sim.stats.statuses)
        self.statuses.subtract(self.statuses_start)
        return self

    @property
    def seconds(self) -> float:
        return (self.end or time.monotonic()) - self.start

    def within(self, samples):
        return [value for when, value in samples if self.start <= when <= (self.end or time.monotonic())]

    def row(self) -> list:
        stored = [v for t, v in self.sampler.stored if self.start - 1.5 <= t <= self.end + 1.5]
        rate = (stored[-1] - stored[0]) / self.seconds if len(stored) >= 2 else float("nan")
        push, pull = self.within(self.sim.stats.push_ms), self.within(self.sim.stats.pull_ms)
        refused = sum(n for (kind, status), n in self.statuses.items() if kind == "push" and status in (429, 503))
        failed = sum(n for (kind, status), n in self.statuses.items() if kind == "push" and not isinstance(status, int))
        connections = self.within(self.sampler.connections)
        lag = self.within(self.sampler.loop_lag_ms)
        return [
            self.name,
            f"{self.seconds:.0f}",
            f"{rate:,.0f}",
            f"{pct(push, 0.5)} / {pct(push, 0.99)}",
            f"{pct(pull, 0.5)} / {pct(pull, 0.99)}",
            f"{len(push):,} ok, {refused:,} 503, {failed:,} failed",
            f"{self.cpu['web'] / self.seconds:.2f} + {self.cpu['celery'] / self.seconds:.2f}",
            f"{self.cpu['web'] * 1000 / (stored[-1] - stored[0]):.1f}"
            if len(stored) >= 2 and stored[-1] > stored[0]
            else "–",
            f"{self.cpu['postgres'] / self.seconds:.2f}",
            f"{self.cpu['pgbouncer'] / self.seconds:.2f}",
            f"{self.cpu['simulator'] / self.seconds:.2f}",
            f"{max(connections) if connections else '–'}",
            f"{pct(self.dashboard_ms, 0.5)} / {max(self.dashboard_ms) if self.dashboard_ms else 0:,.0f}",
            f"{pct(lag, 0.5)} / {pct(lag, 0.99)}",
            f"{len(self.passes)}: {statistics.median(self.passes):.2f} / {max(self.passes):.2f}"
            if self.passes
            else "–",
        ]


def timeline(window: Window, step: float = 10.0) -> str:
    """A phase second by second, ``step`` at a time: what central stored and spent, how many pushes were answered and
    refused, and how many branches were still behind (for the return: what sets the catch-up's length)."""
    sampler, stats = window.sampler, window.sim.stats
    rows, start, end = [], window.start, window.end or time.monotonic()

    def at(samples, when, default):  # the last sample at or before ``when``
        return next((value for moment, value in reversed(samples) if moment <= when), default)

    while start < end:
        stop = min(start + step, end)
        stored = [value for moment, value in sampler.stored if start <= moment <= stop]
        cpu = Counter(at(sampler.cpu_series, stop, Counter()))  # a copy: subtract() changes it
        cpu.subtract(at(sampler.cpu_series, start, Counter()))
        seconds = stop - start
        rows.append(
            [
                f"{start - window.start:.0f}-{stop - window.start:.0f}",
                f"{(stored[-1] - stored[0]) / seconds:,.0f}" if len(stored) >= 2 else "–",
                sum(1 for moment, _ in stats.push_ms if start <= moment < stop),
                sum(1 for moment in stats.refused_at if start <= moment < stop),
                at(stats.behind, stop, "–"),
                *(f"{cpu[group] / seconds:.2f}" for group in ("web", "celery", "postgres", "simulator")),
            ]
        )
        start = stop
    headers = ["s since start", "events/s stored", "pushes ok", "503", "branches behind", "gunicorn", "Celery"]
    return table([*headers, "PostgreSQL", "simulator"], rows)


HEADERS = [
    "phase",
    "s",
    "events/s stored",
    "push p50 / p99 ms",
    "pull p50 / p99 ms",
    "pushes",
    "central CPU: gunicorn + Celery (cores)",
    "gunicorn CPU ms per event stored",
    "PostgreSQL CPU",
    "PgBouncer CPU",
    "simulator CPU",
    "PG connections (max)",
    "dashboard p50 / max ms",
    "sim loop lag p50 / p99 ms",
    "reconciliation passes: n, p50 / max s",
]


async def loop_lag(sampler: Sampler, stop: asyncio.Event) -> None:
    """How late the simulator's event loop wakes up: a client-side latency includes this much of its own."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.1)
        sampler.loop_lag_ms.append((time.monotonic(), (time.monotonic() - started - 0.1) * 1000))


def dashboard_probe(chain: ProcessChain, windows: list[Window], stop: threading.Event) -> None:
    """A manager reloading the dashboard every 2 s, in whichever phase is current."""
    session = chain.web_login("gerencia", MANAGER_PASSWORD)
    while not stop.wait(2.0):
        started = time.monotonic()
        try:
            ok = session.get(f"{chain.central_web.url}/dashboard/", timeout=30).status_code == 200
        except Exception:
            ok = False
        if ok and windows and windows[-1].end is None:
            windows[-1].dashboard_ms.append((time.monotonic() - started) * 1000)


def reconciliation_passes(chain: ProcessChain) -> list[tuple[datetime, float, bool]]:
    rows = chain.central_sql(
        'SELECT started_at, extract(epoch FROM finished_at - started_at), "full" FROM '
        "reconciliation_reconciliationrun WHERE finished_at IS NOT NULL ORDER BY started_at"
    )
    return [(started, float(seconds), full) for started, seconds, full in rows]


async def ours_run(chain: ProcessChain, credentials: dict[str, str], groups: dict) -> dict:
    sim = SimChain(chain.sync_url, credentials, SIM)
    sampler = Sampler(chain, {**groups, "simulator": lambda: [os.getpid()]})
    sampler.start()
    activity = Activity(chain)
    activity.start()
    windows: list[Window] = []
    probe_stop = threading.Event()
    probe = threading.Thread(target=dashboard_probe, args=(chain, windows, probe_stop), daemon=True)
    lag_stop = asyncio.Event()
    lag = asyncio.create_task(loop_lag(sampler, lag_stop))
    sim.start()
    probe.start()
    result = {}
    try:
        print(f"{time.strftime('%H:%M:%S')} warm-up: {BRANCHES} opening receipts, then selling", flush=True)
        windows.append(Window("warm-up (opening receipts + selling)", sampler, sim))
        marks = sim.marks()
        selling = asyncio.create_task(sim.sell_for(15))
        await sim.drained(timeout=RETURN_DEADLINE_S, upto=marks)
        await selling
        windows[-1].close()

        print(f"{time.strftime('%H:%M:%S')} steady state for {STEADY_S:.0f}s", flush=True)
        windows.append(Window(f"steady: {BRANCHES} branches x 1 sale / {SALE_INTERVAL_S:g} s", sampler, sim))
        first_steady_seq = {branch.code: branch.seq for branch in sim.branches}
        await sim.sell_for(STEADY_S)
        windows[-1].close()
        result["steady_sales"] = [
            (event["occurred_at"], branch.code)
            for branch in sim.branches
            for seq, event in branch.history.items()
            if event["type"] == "sale.completed" and seq > first_steady_seq[branch.code]
        ]

        print(f"{time.strftime('%H:%M:%S')} outage: central's gunicorns down for {OUTAGE_S:.0f}s", flush=True)
        for web in chain.central_pools:  # central down is all of it
            await asyncio.to_thread(web.kill)
        windows.append(Window(f"outage ({OUTAGE_S:.0f} s, branches keep selling)", sampler, sim))
        made_before = sim.stats.events_made
        await sim.sell_for(OUTAGE_S)
        result["queued"] = sim.pending()
        result["made_during_outage"] = sim.stats.events_made - made_before
        windows[-1].close()

        print(f"{time.strftime('%H:%M:%S')} return: {result['queued']:,} events queued", flush=True)
        await asyncio.to_thread(boot, chain.central_pools)
        windows.append(Window("return (catch-up, selling goes on)", sampler, sim))
        selling = asyncio.create_task(sim.sell_for(RETURN_DEADLINE_S))
        try:
            result["catch_up_s"] = await sim.drained(timeout=RETURN_DEADLINE_S, upto=sim.marks())
        except TimeoutError as error:
            result["catch_up_s"] = None
            result["catch_up_missed"] = str(error)
        for branch in sim.branches:
            branch.selling = False
        await selling
        windows[-1].close()
        with suppress(TimeoutError):
            await sim.drained(timeout=120)
    finally:
        probe_stop.set()
        lag_stop.set()
        await lag
        await sim.close()
        sampler.halt.set()
        sampler.join()
        activity.halt.set()
        activity.join()
        probe.join(timeout=40)
    stored = [
        (code, str(event_id), seq)
        for code, event_id, seq in chain.central_sql("SELECT branch, id, seq FROM branches_branchevent")
    ]
    result["exactly_once"] = exactly_once_report(sim.history(), stored, sim.queued())
    result["problems"] = sim.stats.problems[:10]
    result["windows"] = windows
    result["activity"] = activity
    result["resent_on_request"] = sim.stats.resent_on_request
    return result


async def prototype_run(url: str, sales: list[tuple[str, str]], process: psutil.Process) -> dict:
    """The same sales, at the same moments relative to the first, each one notification to the prototype."""
    moments = sorted((datetime.fromisoformat(at).timestamp(), code) for at, code in sales)
    first = moments[0][0]
    latencies, statuses = [], Counter()
    client = httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=BRANCHES), trust_env=False)
    by_branch = defaultdict(list)
    for at, code in moments:
        by_branch[code].append(at - first)

    async def branch(code: str, offsets: list[float], began: float) -> None:
        for number, offset in enumerate(offsets):
            await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
            body = {"sucursal": code, "producto": ("manzana", "banana")[number % 2], "cantidad": 1}
            started = time.monotonic()
            try:
                answer = await client.post(f"{url}/sucursal-notificacion", json=body)
                statuses[answer.status_code] += 1
                latencies.append((time.monotonic() - started) * 1000)
            except httpx.HTTPError as error:
                statuses[type(error).__name__] += 1

    cpu_before = sum(process.cpu_times()[:2])
    began = time.monotonic()
    await asyncio.gather(*(branch(code, offsets, began) for code, offsets in by_branch.items()))
    seconds = time.monotonic() - began
    await client.aclose()
    return {
        "seconds": seconds,
        "notifications": len(moments),
        "rate": statuses[200] / seconds,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "cpu": (sum(process.cpu_times()[:2]) - cpu_before) / seconds,
        "statuses": dict(statuses),
    }


def boot(webs: list[WebServer]) -> None:
    """Start central's gunicorns and wait until each answers. Not WebServer.start(): its health check allows one
    second, and a central coming back to 500 waiting branches queues /healthz behind their requests for longer."""
    for web in webs:
        Process.start(web)
    for web in webs:
        poll(
            lambda web=web: requests.get(f"{web.url}/healthz", timeout=15).status_code == 200,
            timeout=BOOT_TIMEOUT_S,
            what=f"central's {web.name} answering",
        )
    if MANAGERS_NICE and len(webs) > 1:
        weighted(webs[0], MANAGERS_NICE, "the managers' pool")


def weighted(server: Process, nice: int, what: str) -> None:
    """Give a server's processes the CPU weight its unit gives it in production: the managers' pool first
    (ecomarket-web.service's CPUWeight=400, four times every other service's; nice -6 is 3.8 times the weight of nice
    0), the Celery worker last (ecomarket-worker.service's CPUWeight=25; nice 6 is 0.26 times). Here every process
    started in its own session is an autogroup when the kernel has autogroups on, and a process's nice only orders
    it within its group: so the server's autogroup is given the nice, and each of its processes too, for a kernel
    without them. Raising a priority needs root (or CAP_SYS_NICE)."""
    root = psutil.Process(server.popen.pid)
    try:
        for process in [root, *root.children(recursive=True)]:
            process.nice(nice)
        with suppress(FileNotFoundError):  # no autogroups in this kernel
            Path(f"/proc/{root.pid}/autogroup").write_text(str(nice))
    except (psutil.Error, OSError) as error:
        print(f"{what} keeps the default priority: {error!r}", flush=True)


@contextmanager
def central_running(root: Path):
    chain = ProcessChain(
        root / "ours", branches=(), pgbouncer=PGBOUNCER, web_workers=WEB_WORKERS, sync_workers=SYNC_WORKERS
    )
    chain.central.env.update(
        {
            "SYNC_ADMISSION_SLOTS": str(SLOTS),
            "SYNC_ADMISSION_PULL_SLOTS": str(PULL_SLOTS),
            "SYNC_ADMISSION_QUEUE": str(QUEUE),
            "SYNC_ADMISSION_WAIT_S": WAIT_S,
            "RECONCILE_INTERVAL_S": RECONCILE_INTERVAL_S,
            "LOG_LEVEL": "WARNING",
        }
    )
    celery = []
    try:
        chain.prepare()
        chain.central.manage("install_schedule")
        chain.central.manage("create_staff", "gerencia", "--role", "manager", "--password", MANAGER_PASSWORD)
        credentials = chain.register([f"S{number:04d}" for number in range(1, BRANCHES + 1)])
        celery = [CeleryWorker(chain.central), CeleryBeat(chain.central)]
        for process in celery:
            process.start()
        if CELERY_NICE:
            weighted(celery[0], CELERY_NICE, "the Celery worker")
        # Started here rather than by chain.start(), to give a loaded machine longer to boot the workers.
        chain.central_web = WebServer(chain.central, port=chain.central_port, workers=WEB_WORKERS)
        if SYNC_WORKERS:
            chain.central_sync = chain.central_sync_pool()
        boot(chain.central_pools)
        yield chain, credentials, celery
    finally:
        stop_all(celery)
        chain.stop()


def main() -> None:
    # A SIGTERM (a timeout, Ctrl-C from a supervisor) unwinds like an exception, so every server started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    pools = (
        f"gunicorn pools: managers {WEB_WORKERS} workers (nice {MANAGERS_NICE}), sync {SYNC_WORKERS} workers, "
        f"Celery nice {CELERY_NICE}"
        if SYNC_WORKERS
        else f"one gunicorn of {WEB_WORKERS} workers for managers and branches"
    )
    root = begin(
        f"chain scale: {BRANCHES} branches, 1 sale / {SALE_INTERVAL_S:g} s each, steady {STEADY_S:.0f} s, "
        f"outage {OUTAGE_S:.0f} s, kick every {SIM.kick_interval_s:g} s; {pools}, "
        f"{SLOTS} push and {PULL_SLOTS} pull slots, {QUEUE} places waiting up to {WAIT_S} s, "
        f"PgBouncer {'on' if PGBOUNCER else 'off'}; "
        f"load before: {os.getloadavg()}"
    )
    with central_running(root) as (chain, credentials, celery):
        groups = {
            "web": lambda: [web.popen.pid for web in chain.central_pools if web.running],
            "celery": lambda: [p.popen.pid for p in celery if p.running],
            "pgbouncer": lambda: [chain.pgbouncer.popen.pid] if chain.pgbouncer else [],
        }
        started_at = chain.central_sql("SELECT now()")[0][0]
        result = asyncio.run(ours_run(chain, credentials, groups))
        passes = [p for p in reconciliation_passes(chain) if p[0] >= started_at]
    load_after = os.getloadavg()
    theirs = None
    if PROTOTYPE:
        code = prototype_sources()["central"]
        service = PrototypeService("central", code, root / "proto-central", port_free()).start()
        try:
            theirs = asyncio.run(prototype_run(service.url, result["steady_sales"], psutil.Process(service.popen.pid)))
        finally:
            service.stop()

    for window in result["windows"]:
        window.passes = [
            seconds
            for started, seconds, full in passes
            if not full and window.wall_start <= started.timestamp() < (window.wall_end or time.time())
        ]
    print()
    print(table(HEADERS, [window.row() for window in result["windows"]]))
    print(f"\n{result['windows'][-1].name}, {10:g} s at a time (CPU in cores):")
    print(timeline(result["windows"][-1]))
    for window in result["windows"][1::2]:  # the steady state and the return
        print(f"\nPostgreSQL's time in {window.name}, by statement ({Activity.INTERVAL_S:g} s samples):")
        print(result["activity"].busiest(window))
    incremental = [seconds for _, seconds, full in passes if not full]
    print()
    print(
        f"reconciliation passes during the run: {len(passes)} "
        f"(incremental p50 {statistics.median(incremental) if incremental else float('nan'):.2f} s, "
        f"max {max(incremental) if incremental else float('nan'):.2f} s; all: "
        f"{', '.join(f'{s:.2f}' for _, s, _ in passes)})"
    )
    caught_up = (
        f"every queued event stored {result['catch_up_s']:.1f} s after central was back"
        if result["catch_up_s"] is not None
        else f"NOT all stored within {RETURN_DEADLINE_S:.0f} s: {result['catch_up_missed']}"
    )
    print(
        f"outage: {result['made_during_outage']:,} events made while central was down, {result['queued']:,} queued "
        f"at its return; {caught_up}"
    )
    print(f"exactly once: {json.dumps(result['exactly_once'])}; resent on request: {result['resent_on_request']}")
    if result["problems"]:
        print(f"PROBLEMS: {result['problems']}")
    if theirs:
        print()
        print(
            table(
                [
                    "seed prototype central, same steady-state sales",
                    "s",
                    "notifications",
                    "stored/s",
                    "p50 / p99 ms",
                    "CPU (cores)",
                    "answers",
                ],
                [
                    [
                        "one notification per sale (uvicorn, 1 worker, memory only)",
                        f"{theirs['seconds']:.0f}",
                        f"{theirs['notifications']:,}",
                        f"{theirs['rate']:,.0f}",
                        f"{theirs['p50']} / {theirs['p99']}",
                        f"{theirs['cpu']:.2f}",
                        theirs["statuses"],
                    ]
                ],
            )
        )
    print(f"\nload average before {root}: see header; after our run: {load_after}")


if __name__ == "__main__":
    sys.exit(main())
