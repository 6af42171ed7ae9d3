"""A chain of branches as lightweight asyncio clients speaking the real sync protocol to a central over HTTP: for
the chain-scale benchmark (bench/chain_scale.py) and its small exactly-once check in the test suite
(branches/tests/test_chain_scale.py); bench/push_cost.py makes its events with a SimBranch.

Each simulated branch does what a branch server's outbox, push and pull do (branches/outbox.py, push.py, pull.py),
without a database of its own: gapless seqs, sale events of 1-5 lines, voids and returns of its own earlier sales,
stock snapshots of what it believes it holds; pushes its pending events in seq order, 500 at a time, kicked by a
sale about every ``kick_interval_s`` (the branch's jittered pause) and swept every ``sweep_s``; marks events
delivered only from central's answer and queues ``missing_seqs`` again; backs off after a failure with the branch's
own formula (branches/backoff.py: jitter, and never sooner than a 429/503's Retry-After); pulls the change feed
every ``pull_interval_s`` from its cursor until a page comes back empty, and queues resend requests again. Its
history (every event it ever made) is what the run is checked against: central must hold each exactly once.

Differences from a real branch, on purpose: a branch whose push failed waits out its backoff and then pushes,
where the real one pushes at the first kick or sweep after its backoff (at 1 sale / 2 s, within a few hundred ms
of the same moment); nothing is parked (a conflict or rejection counts as an error of the run).
"""

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp

from branches.backoff import backoff_after_failure, kick_pause, refusals_counted, retry_after_parse
from branches.protocol import payload_deltas, void_deltas

BATCH = 500
# The demo catalog (inventory/demo.py): weighed goods take 3 decimals, the rest whole units.
WEIGHED = ["FRU-MANZANA", "FRU-BANANA", "FRU-NARANJA", "FRU-LIMON", "VER-PAPA", "VER-TOMATE", "VER-CEBOLLA"]
UNITS = [
    "VER-LECHUGA",
    "ALM-ARROZ-1K",
    "ALM-FIDEOS-500",
    "ALM-ACEITE-1L",
    "ALM-YERBA-1K",
    "LAC-LECHE-1L",
    "LAC-YOGUR-1L",
    "PAN-MOLDE",
    "BEB-AGUA-2L",
]
MILLI = Decimal("0.001")


@dataclass
class SimSettings:
    """The simulated branches' knobs (not Django's settings); each timing mirrors the branch setting named beside
    it, and a test compresses them to run in seconds."""

    sale_interval_s: float = 2.0  # mean time between two sales at one branch (exponential: a Poisson till)
    pull_interval_s: float = 10.0  # SYNC_PULL_INTERVAL_S
    sweep_s: float = 5.0  # SYNC_PUSH_SWEEP_S
    kick_interval_s: float = 0.25  # SYNC_KICK_INTERVAL_S
    backoff_cap_s: float = 15.0  # SYNC_BACKOFF_CAP_S
    snapshot_interval_s: float = 60.0  # STOCK_SNAPSHOT_INTERVAL_S, an hour compressed into a minute
    void_share: float = 0.04
    return_share: float = 0.03
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 20.0


@dataclass
class Stats:
    """What the whole chain saw, from the clients' side."""

    push_ms: list[tuple[float, float]] = field(default_factory=list)  # (when, latency) of answered pushes
    pull_ms: list[tuple[float, float]] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # ("push"|"pull", status or error name) -> count
    refused_at: list[float] = field(default_factory=list)  # when each push answered 429/503 was sent
    behind: list[tuple[float, int]] = field(default_factory=list)  # (when, branches with events ``drained`` awaits)
    events_made: int = 0
    sales_made: int = 0
    resent_on_request: int = 0
    problems: list[str] = field(default_factory=list)  # conflicts, rejections, 4xx: each a bug in the run


class SimBranch:
    def __init__(self, code: str, credential: str, settings: SimSettings, stats: Stats) -> None:
        self.code = code
        self.credential = credential
        self.settings = settings
        self.stats = stats
        self.seq = 0
        self.history: dict[int, dict] = {}  # seq -> event, everything ever made
        # seq -> the event as JSON: encoded once when made, so a resend (after a failure, or 500 at a time after
        # an outage) costs no encoding again.
        self.encoded: dict[int, bytes] = {}
        self.pending: set[int] = set()
        self.on_hand: dict[str, Decimal] = {}
        self.open_sales: list[dict] = []  # sale payloads still voidable / returnable
        self.cursor = 0
        self.failures = 0
        self.refusals = 0  # of the failures, the latest in a row answered with a Retry-After
        self.next_push_at = 0.0
        self.next_kick_at = 0.0  # the pacing: no push before this (branches/outbox.py's publisher)
        self.kicked = asyncio.Event()
        self.selling = True
        self.pulls = 0

    # ------------------------------------------------------------------------------------------------------
    # Making events (what the branch's services write to its outbox)
    # ------------------------------------------------------------------------------------------------------

    def _append(self, type_: str, payload: dict, *, voided_sale: dict | None = None) -> dict:
        """Write an event and move the simulated on-hand as the protocol module says the event does (a void by its
        ``voided_sale``'s lines), the same recipe the branch, its replay and central's ingest use."""
        effect = (
            void_deltas((line["sku"], Decimal(line["quantity"])) for line in voided_sale["lines"])
            if voided_sale is not None
            else payload_deltas(type_, payload)
        )
        for sku, delta in effect.items():
            self.on_hand[sku] = self.on_hand.get(sku, Decimal("0")) + delta
        self.seq += 1
        event = {
            "id": str(uuid.uuid4()),
            "branch": self.code,
            "seq": self.seq,
            "type": type_,
            "occurred_at": datetime.now(UTC).isoformat(),
            "schema": 1,
            "payload": payload,
        }
        self.history[self.seq] = event
        self.encoded[self.seq] = json.dumps(event).encode()
        self.pending.add(self.seq)
        self.stats.events_made += 1
        self.kicked.set()
        return event

    def opening_stock(self) -> None:
        lines = [{"sku": sku, "quantity": "100000"} for sku in WEIGHED + UNITS]
        self._append("stock.received", {"transfer_id": None, "lines": lines})

    def sale(self) -> None:
        skus = random.sample(WEIGHED + UNITS, random.randint(1, 5))
        lines = []
        for sku in skus:
            quantity = Decimal(random.randint(100, 3000)) * MILLI if sku in WEIGHED else Decimal(random.randint(1, 4))
            lines.append({"sku": sku, "quantity": str(quantity.quantize(MILLI)), "unit_price": "1.00"})
        payload = {
            "sale_id": str(uuid.uuid4()),
            "number": self.stats.sales_made + 1,
            "lines": lines,
            "total": f"{len(lines)}.00",
            "payment_method": random.choice(["cash", "card"]),
            "cashier": "sim",
        }
        self._append("sale.completed", payload)
        self.open_sales = [*self.open_sales[-20:], payload]
        self.stats.sales_made += 1

    def void(self) -> None:
        if not self.open_sales:
            return
        sale = self.open_sales.pop(random.randrange(len(self.open_sales)))
        self._append(
            "sale.voided", {"sale_id": sale["sale_id"], "reason": "customer changed their mind"}, voided_sale=sale
        )

    def give_back(self) -> None:
        if not self.open_sales:
            return
        sale = self.open_sales.pop(random.randrange(len(self.open_sales)))  # one return per sale, then closed
        line = random.choice(sale["lines"])
        self._append(
            "return.completed",
            {
                "return_id": str(uuid.uuid4()),
                "sale_id": sale["sale_id"],
                "lines": [{"sku": line["sku"], "quantity": line["quantity"]}],
            },
        )

    def snapshot(self) -> None:
        levels = [{"sku": sku, "on_hand": str(q.quantize(MILLI))} for sku, q in sorted(self.on_hand.items())]
        self._append("stock.snapshot", {"as_of_seq": self.seq, "levels": levels})

    async def sell(self, until: float) -> None:
        """The tills: a sale every ``sale_interval_s`` on average, now and then a void or a return, and a snapshot
        every ``snapshot_interval_s``, until ``until`` (monotonic) or ``selling`` is turned off."""
        next_snapshot = time.monotonic() + random.uniform(0, self.settings.snapshot_interval_s)
        while self.selling and time.monotonic() < until:
            gap = random.expovariate(1 / self.settings.sale_interval_s)
            if time.monotonic() + gap >= until:
                await asyncio.sleep(max(0.0, until - time.monotonic()))
                break
            await asyncio.sleep(gap)
            if not self.selling:
                break
            draw = random.random()
            if draw < self.settings.void_share:
                self.void()
            elif draw < self.settings.void_share + self.settings.return_share:
                self.give_back()
            else:
                self.sale()
            if time.monotonic() >= next_snapshot:
                self.snapshot()
                next_snapshot += self.settings.snapshot_interval_s

    # ------------------------------------------------------------------------------------------------------
    # Push (branches/push.py outbox_push)
    # ------------------------------------------------------------------------------------------------------

    def _headers(self) -> dict:
        return {"Authorization": f"Branch {self.credential}", "User-Agent": f"ecomarket-sim/{self.code}"}

    async def push_loop(self, client: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # no kick: the sweep
                await asyncio.wait_for(self.kicked.wait(), timeout=self.settings.sweep_s)
            self.kicked.clear()
            wait = max(
                self.next_push_at - time.monotonic(),
                self.next_kick_at - time.monotonic(),
            )
            if wait > 0:
                await asyncio.sleep(wait)
            if self.pending:
                self.next_kick_at = time.monotonic() + kick_pause(self.settings.kick_interval_s)
                await self.push(client, url)

    def body(self, seqs: list[int]) -> bytes:
        """A push request's body: ``{"branch": ..., "events": [...]}`` from the events' JSON as made."""
        return b'{"branch": %s, "events": [%s]}' % (
            json.dumps(self.code).encode(),
            b", ".join(self.encoded[seq] for seq in seqs),
        )

    async def push(self, client: aiohttp.ClientSession, url: str) -> None:
        while self.pending:
            seqs = sorted(self.pending)[:BATCH]
            headers = {
                **self._headers(),
                "Content-Type": "application/json",
                "X-Outbox-Pending": str(len(self.pending)),
            }
            started = time.monotonic()
            try:
                async with client.post(url, data=self.body(seqs), headers=headers) as response:
                    status, content = response.status, await response.read()
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as error:
                self.stats.statuses["push", type(error).__name__] += 1
                self._failed(0.0)
                return
            self.stats.statuses["push", status] += 1
            if status != 200:
                if status in (429, 503):
                    self.stats.refused_at.append(started)
                if 400 <= status < 500 and status != 429:
                    text = content.decode(errors="replace")[:200]
                    self.stats.problems.append(f"{self.code} push {status}: {text}")
                self._failed(retry_after_parse(retry_after) if status in (429, 503) else 0.0)
                return
            self.stats.push_ms.append((started, (time.monotonic() - started) * 1000))
            answer = json.loads(content)
            if answer["conflicts"] or answer["rejected"]:
                self.stats.problems.append(f"{self.code}: {answer['conflicts']} {answer['rejected']}")
            self.pending.difference_update(seqs)
            missing = [seq for seq in answer.get("missing_seqs", []) if seq in self.history]
            self.pending.update(missing)
            self.failures, self.refusals, self.next_push_at = 0, 0, 0.0
            if len(seqs) < BATCH and not missing:
                return

    def _failed(self, retry_after: float) -> None:
        self.failures += 1
        self.refusals = refusals_counted(self.refusals, retry_after=retry_after)
        delay = backoff_after_failure(
            self.failures, self.refusals, cap=self.settings.backoff_cap_s, retry_after=retry_after
        )
        self.next_push_at = time.monotonic() + delay

    # ------------------------------------------------------------------------------------------------------
    # Pull (branches/pull.py changes_pull)
    # ------------------------------------------------------------------------------------------------------

    async def pull_loop(self, client: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        await asyncio.sleep(random.uniform(0, self.settings.pull_interval_s))  # beats start at different moments
        while not stop.is_set():
            await self.pull(client, url)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.pull_interval_s)

    async def pull(self, client: aiohttp.ClientSession, url: str, max_pages: int = 100) -> None:
        for _ in range(max_pages):
            started = time.monotonic()
            try:
                async with client.get(f"{url}?since={self.cursor}", headers=self._headers()) as response:
                    status, content = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError) as error:
                self.stats.statuses["pull", type(error).__name__] += 1
                return
            self.stats.statuses["pull", status] += 1
            if status != 200:
                return
            self.stats.pull_ms.append((started, (time.monotonic() - started) * 1000))
            answer = json.loads(content)
            for change in answer["changes"]:
                if change["kind"] == "resend":
                    again = [seq for seq in change["payload"]["seqs"] if seq in self.history]
                    self.pending.update(again)
                    self.stats.resent_on_request += len(again)
                    if again:
                        self.kicked.set()
            self.cursor = int(answer["next_cursor"])
            self.pulls += 1
            if not answer["changes"]:
                return


# ----------------------------------------------------------------------------------------------------------------
# The chain
# ----------------------------------------------------------------------------------------------------------------


def client_for(branches: int, settings: SimSettings) -> aiohttp.ClientSession:
    """One HTTP client for the whole chain: aiohttp, whose C parser and lighter request path cost the simulator
    half of httpx's CPU per request (bench/sim_cost.py, docs/scale-runs.md). A connection per branch and loop, so no
    request ever waits for another's. The branch's timeouts (branches/central_client.py: 3 s to connect, 20 s
    without a byte of the answer); the write is not timed, as aiohttp has none, but on loopback the kernel takes a
    whole 500-event body before central even accepts the connection. No cookies kept (each store is a client of
    its own), and never a proxy from the environment for loopback."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_s, sock_read=settings.read_timeout_s
        ),
        connector=aiohttp.TCPConnector(limit=branches * 2),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


class SimChain:
    """``branches`` (code -> credential) selling against ``central_url`` (loopback only)."""

    def __init__(self, central_url: str, credentials: dict[str, str], settings: SimSettings | None = None) -> None:
        if not central_url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ValueError("the simulator only ever targets loopback")
        self.central_url = central_url.rstrip("/")
        self.settings = settings or SimSettings()
        self.stats = Stats()
        self.branches = [
            SimBranch(code, credential, self.settings, self.stats) for code, credential in credentials.items()
        ]
        for branch in self.branches:
            branch.opening_stock()
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.client: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Start every branch's push and pull loops (they run until ``close``)."""
        self.client = client_for(len(self.branches), self.settings)
        push, pull = f"{self.central_url}/api/v1/sync/events", f"{self.central_url}/api/v1/sync/changes"
        for branch in self.branches:
            self.tasks.append(asyncio.create_task(branch.push_loop(self.client, push, self.stop)))
            self.tasks.append(asyncio.create_task(branch.pull_loop(self.client, pull, self.stop)))

    async def sell_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        for branch in self.branches:
            branch.selling = True
        await asyncio.gather(*(branch.sell(until) for branch in self.branches))

    def pending(self) -> int:
        return sum(len(branch.pending) for branch in self.branches)

    def marks(self) -> dict[str, int]:
        """Each branch's last seq so far: what ``drained(upto=...)`` waits for while the tills keep selling."""
        return {branch.code: branch.seq for branch in self.branches}

    def _waiting(self, upto: dict[str, int] | None) -> int:
        """How many branches still hold an event ``drained`` waits for."""
        # min() of a set rather than a count in Python: asked 10 times a second over 150,000 queued events.
        if upto is None:
            return sum(1 for branch in self.branches if branch.pending)
        return sum(1 for branch in self.branches if branch.pending and min(branch.pending) <= upto[branch.code])

    async def drained(self, timeout: float, upto: dict[str, int] | None = None) -> float:
        """Wait until central acknowledged every event (or, with ``upto``, every event up to those seqs: events
        made meanwhile do not count); returns the seconds it took, raises after ``timeout``."""
        started = time.monotonic()
        while behind := self._waiting(upto):
            self.stats.behind.append((time.monotonic(), behind))
            if time.monotonic() - started > timeout:
                waiting = sum(
                    1 for branch in self.branches for seq in branch.pending if upto is None or seq <= upto[branch.code]
                )
                raise TimeoutError(f"{waiting} events still pending after {timeout}s")
            await asyncio.sleep(0.1)
        self.stats.behind.append((time.monotonic(), 0))
        return time.monotonic() - started

    async def close(self) -> None:
        self.stop.set()
        for branch in self.branches:
            branch.kicked.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client:
            await self.client.close()

    def queued(self) -> set[tuple[str, int]]:
        """(code, seq) of every event a branch still holds unacknowledged."""
        return {(branch.code, seq) for branch in self.branches for seq in branch.pending}

    def history(self) -> dict[str, dict[str, int]]:
        """code -> {event id: seq} of everything each branch made."""
        return {b.code: {event["id"]: seq for seq, event in b.history.items()} for b in self.branches}


def exactly_once_report(
    history: dict[str, dict[str, int]], stored: list[tuple[str, str, int]], queued: set[tuple[str, int]] = frozenset()
) -> dict:
    """Compare the simulator's history with what central stores, rows of (branch, event id, seq). Returns counts of
    what is still queued at a branch (never acknowledged: late, not lost), lost (acknowledged or not, made and not
    stored, and no longer queued), doubled (the same id or the same seq stored twice) and foreign (stored, never
    made)."""
    made = {(code, event_id, seq) for code, events in history.items() for event_id, seq in events.items()}
    rows = Counter(stored)
    ids = Counter(event_id for _, event_id, _ in stored)
    seqs = Counter((code, seq) for code, _, seq in stored)
    absent = made - set(rows)
    return {
        "made": len(made),
        "stored": len(stored),
        "still_queued": sum(1 for code, _, seq in absent if (code, seq) in queued),
        "lost": sum(1 for code, _, seq in absent if (code, seq) not in queued),
        "doubled": sum(n - 1 for n in ids.values() if n > 1) + sum(n - 1 for n in seqs.values() if n > 1),
        "foreign": len(set(rows) - made),
    }
