"""The chain simulator's client side (harness/chainsim.py) against a stand-in central on loopback whose answers
the test sets: what a push sends, and how a refusal, a closed port or a silent server turns into the branch's
backoff (branches/backoff.py), as a real branch does it. The simulator against the real central:
branches/tests/test_chain_scale.py."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.chainsim import SimBranch, SimSettings, Stats, client_for
from harness.processes import LOOPBACK, port_free

pytestmark = pytest.mark.mode("central")

PUSHED = {"accepted": 2, "duplicates": 0, "conflicts": [], "rejected": [], "high_water_seq": 2, "missing_seqs": []}


class _Central(BaseHTTPRequestHandler):
    """Answers each request with ``status``, ``headers_out`` and the next of ``answers`` (JSON; the last one again
    once they run out), or, while ``silent``, not at all (until ``released``); keeps what it was sent in
    ``received`` (method, path, headers, body)."""

    status = 200
    headers_out: dict = {}
    answers: list = [PUSHED]
    silent = False
    released = threading.Event()
    received: list = []

    def _reply(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((method, self.path, dict(self.headers), body))
        if self.silent:
            self.released.wait(timeout=30)  # at the end of the test
            return
        content = json.dumps(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]).encode()
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_POST(self):
        self._reply("POST")

    def do_GET(self):
        self._reply("GET")

    def log_message(self, *args):
        pass


@pytest.fixture
def central():
    _Central.status, _Central.headers_out, _Central.answers, _Central.received = 200, {}, [PUSHED], []
    _Central.silent = False
    _Central.released.clear()
    server = ThreadingHTTPServer((LOOPBACK, 0), _Central)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Central, f"http://{LOOPBACK}:{server.server_address[1]}"
    _Central.released.set()
    server.shutdown()
    server.server_close()


def _branch(settings: SimSettings | None = None) -> SimBranch:
    branch = SimBranch("S001", "secret-credential", settings or SimSettings(), Stats())
    branch.opening_stock()
    branch.sale()
    return branch


def _push(branch: SimBranch, url: str) -> None:
    async def push() -> None:
        async with client_for(1, branch.settings) as client:
            await branch.push(client, url)

    asyncio.run(push())


def test_a_push_sends_the_pending_events_in_seq_order_as_they_were_made(central):
    stand_in, url = central
    branch = _branch()

    _push(branch, f"{url}/api/v1/sync/events")

    [(method, path, headers, body)] = stand_in.received
    assert (method, path) == ("POST", "/api/v1/sync/events")
    assert headers["Authorization"] == "Branch secret-credential"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Outbox-Pending"] == "2"
    assert json.loads(body) == {"branch": "S001", "events": [branch.history[1], branch.history[2]]}
    assert branch.pending == set()
    assert branch.stats.statuses == {("push", 200): 1}


@pytest.mark.parametrize("status", [503, 429])
def test_a_refused_push_waits_at_least_central_s_retry_after_and_keeps_its_events(central, status):
    stand_in, url = central
    stand_in.status, stand_in.headers_out = status, {"Retry-After": "7"}
    branch = _branch()
    before = time.monotonic()

    _push(branch, f"{url}/api/v1/sync/events")

    # The branch's own backoff after a first failure is 0.5-1 s: the 7 s can only come from the header.
    assert branch.next_push_at >= before + 7
    assert branch.pending == {1, 2}
    assert branch.failures == 1
    assert branch.stats.statuses == {("push", status): 1}
    assert branch.stats.problems == []  # central asking for patience is not a bug of the run


def test_a_push_to_a_central_that_is_down_backs_off_and_keeps_its_events():
    branch = _branch()
    before = time.monotonic()

    _push(branch, f"http://{LOOPBACK}:{port_free()}/api/v1/sync/events")

    assert before + 0.5 <= branch.next_push_at <= time.monotonic() + 1.0  # the first step of the jittered backoff
    assert branch.pending == {1, 2}
    [(kind, error)] = branch.stats.statuses
    assert kind == "push" and not isinstance(error, int)


def test_a_push_that_gets_no_answer_gives_up_after_the_read_timeout_and_backs_off(central):
    stand_in, url = central
    stand_in.silent = True
    branch = _branch(SimSettings(read_timeout_s=0.5))

    _push(branch, f"{url}/api/v1/sync/events")

    assert branch.pending == {1, 2}
    assert branch.failures == 1
    [(kind, error)] = branch.stats.statuses
    assert kind == "push" and "Timeout" in error


def test_a_4xx_other_than_429_is_a_problem_of_the_run(central):
    stand_in, url = central
    stand_in.status, stand_in.answers = 401, [{"code": "not_authenticated", "detail": "no such credential"}]
    branch = _branch()

    _push(branch, f"{url}/api/v1/sync/events")

    [problem] = branch.stats.problems
    assert problem.startswith("S001 push 401:") and "not_authenticated" in problem
    assert branch.pending == {1, 2}


def test_a_pull_queues_central_s_resend_requests_again_and_follows_the_cursor(central):
    stand_in, url = central
    stand_in.answers = [
        {"changes": [{"kind": "resend", "payload": {"seqs": [1, 99]}}], "next_cursor": 5},
        {"changes": [], "next_cursor": 5},
    ]
    branch = _branch()
    branch.pending.clear()

    async def pull() -> None:
        async with client_for(1, branch.settings) as client:
            await branch.pull(client, f"{url}/api/v1/sync/changes")

    asyncio.run(pull())

    assert [(method, path) for method, path, _, _ in stand_in.received] == [
        ("GET", "/api/v1/sync/changes?since=0"),
        ("GET", "/api/v1/sync/changes?since=5"),
    ]
    assert branch.pending == {1}  # seq 99 was never made here
    assert branch.cursor == 5
    assert branch.stats.resent_on_request == 1
