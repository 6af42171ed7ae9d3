"""The branch honours central's Retry-After: a 429/503 carries it into CentralUnavailable, and the backoff waits at
least that long on top of its own jitter; while central answers asking for a wait, the backoff grows with those
refusals, not with the outage before them. Against a real HTTP server on loopback."""

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from branches.backoff import retry_after_parse
from branches.central_client import CentralUnavailable, central_call, central_session
from branches.models import SyncState
from branches.push import backoff_delay, outbox_push

pytestmark = pytest.mark.mode("branch")


class _Answer(BaseHTTPRequestHandler):
    status = 503
    headers_out: dict = {}

    def do_GET(self):
        body = b'{"code": "overloaded", "detail": "busy", "fields": {}}'
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def central(settings):
    """A stand-in head office on loopback whose answer the test sets (status and headers)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CENTRAL_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.BRANCH_CREDENTIAL = "test-credential"
    yield _Answer
    server.shutdown()
    server.server_close()


def _refusal(central, status: int, headers: dict) -> CentralUnavailable:
    central.status, central.headers_out = status, headers
    with pytest.raises(CentralUnavailable) as refused:
        central_call(central_session(), "GET", "/api/v1/sync/changes")
    return refused.value


def test_a_503_with_retry_after_seconds_is_carried_in_the_exception(central):
    assert _refusal(central, 503, {"Retry-After": "7"}).retry_after == 7


def test_a_429_with_retry_after_as_a_date_is_carried_too(central):
    when = datetime.now(UTC) + timedelta(seconds=30)

    waited = _refusal(central, 429, {"Retry-After": format_datetime(when, usegmt=True)}).retry_after

    assert 25 <= waited <= 30


def test_an_error_that_is_no_request_to_wait_carries_no_retry_after(central):
    assert _refusal(central, 500, {"Retry-After": "7"}).retry_after == 0
    assert _refusal(central, 503, {}).retry_after == 0


def test_the_backoff_never_comes_back_before_retry_after(settings):
    settings.SYNC_BACKOFF_CAP_S = 15

    delays = [backoff_delay(1, retry_after=7) for _ in range(200)]

    assert min(delays) >= 7


def test_without_retry_after_the_backoff_is_the_jittered_exponential(settings):
    settings.SYNC_BACKOFF_CAP_S = 15

    first = [backoff_delay(1) for _ in range(200)]
    capped = [backoff_delay(10) for _ in range(200)]

    assert min(first) >= 0.5 and max(first) <= 1.0
    assert min(capped) >= 7.5 and max(capped) <= 15
    assert len(set(capped)) > 1  # jittered, so a returning chain does not come back in step


def test_an_unreadable_or_absurd_retry_after_is_bounded():
    assert retry_after_parse("soon") == 0
    assert retry_after_parse(None) == 0
    assert backoff_delay(1, retry_after=10**9) <= 300


def _push_waits(pushes: int) -> list[float]:
    """The backoff each of ``pushes`` refused pushes set: from the failure it recorded to the next push it allows."""
    waits = []
    for _ in range(pushes):
        SyncState.objects.filter(pk=1).update(next_push_at=None)
        outbox_push()
        state = SyncState.objects.get()
        waits.append((state.next_push_at - state.last_push_error_at).total_seconds())
    return waits


@pytest.mark.django_db
def test_a_store_back_from_an_outage_waits_what_a_busy_central_asks_not_its_outage_backoff(central, shelf, settings):
    settings.SYNC_BACKOFF_CAP_S = 15
    SyncState.objects.update_or_create(pk=1, defaults={"push_failures": 40})  # central was down for ten minutes
    central.status, central.headers_out = 503, {"Retry-After": "2"}  # now it answers, busy with the others

    waits = _push_waits(3)

    # The refusals' own exponential (1, 2, 4 s jittered), never sooner than the 2 s asked: not the 7.5-15 s of the
    # outage's forty failures, which would leave the store idle while a slot frees in a fraction of a second.
    assert all(2 <= wait <= 4 for wait in waits), waits
    state = SyncState.objects.get()
    assert (state.push_failures, state.push_refusals) == (43, 3)  # every failure still counts, for the alerts


@pytest.mark.django_db
def test_refused_again_and_again_the_store_backs_off_to_the_cap(central, shelf, settings):
    settings.SYNC_BACKOFF_CAP_S = 15
    central.status, central.headers_out = 503, {"Retry-After": "2"}

    waits = _push_waits(7)

    assert min(waits[5:]) >= 7.5  # a central that stays busy is not asked every 2 s by every store


@pytest.mark.django_db
def test_an_answer_that_asks_no_wait_backs_off_by_every_failure(central, shelf, settings):
    settings.SYNC_BACKOFF_CAP_S = 15
    central.status, central.headers_out = 503, {"Retry-After": "2"}
    _push_waits(3)
    central.status, central.headers_out = 502, {}  # a proxy in front of a central that is down again

    (wait,) = _push_waits(1)

    assert wait >= 4  # the fourth failure in a row: 8 s jittered, not the first refusal's 1 s
