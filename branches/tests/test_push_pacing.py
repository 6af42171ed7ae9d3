"""A branch asks for a push about once every SYNC_KICK_INTERVAL_S while it sells, resting a jittered pause in between
(branches/backoff.py::kick_pause), so stores that start selling together drift out of step instead of reaching head
office in lockstep (docs/scale-runs.md, "In step")."""

import random
import threading
import time
from collections import Counter

import pytest

from branches import outbox
from branches.backoff import kick_pause

pytestmark = pytest.mark.mode("branch")


@pytest.fixture
def seeded():
    state = random.getstate()
    random.seed(20261130)
    yield
    random.setstate(state)


def test_stores_that_start_selling_together_push_out_of_step_a_minute_later(seeded):
    """500 stores open at the same instant and each asks for a push every 10 s. With a fixed pause all 500 would
    still push in the same second a minute later (the chain run's steady state: 45 % of those pushes refused)."""
    stores, interval = 500, 10.0
    moments = []
    for _ in range(stores):
        moment = 0.0
        while moment < 50:
            moment += kick_pause(interval)
        moments.append(moment)

    busiest = max(Counter(int(moment) for moment in moments if moment < 60).values())

    assert busiest <= 2 * stores / interval  # about one tenth of the chain a second, not all of it at once
    assert all(interval / 2 <= kick_pause(interval) <= interval * 1.5 for _ in range(1000))


class _Stop(Exception):
    pass


def test_the_push_publisher_rests_a_jittered_pause_between_push_requests(monkeypatch, settings):
    settings.SYNC_KICK_INTERVAL_S = 10
    # A flag of the test's own: a publisher an earlier test started in this process waits on the module's.
    this_thread, wanted, pauses, published = threading.current_thread(), threading.Event(), [], []

    class _Clock:
        """outbox's view of the time module: this thread's pauses are recorded (and end the loop after 50),
        any other thread's (a publisher an earlier test started) are real."""

        def sleep(self, seconds: float) -> None:
            if threading.current_thread() is not this_thread:
                return time.sleep(seconds)
            pauses.append(seconds)
            if len(pauses) == 50:
                raise _Stop
            wanted.set()  # a sale committed during the pause

    monkeypatch.setattr(outbox, "time", _Clock())
    monkeypatch.setattr("celery.current_app.send_task", lambda *args, **kwargs: published.append(args))
    wanted.set()

    with pytest.raises(_Stop):
        outbox._push_publisher(wanted)

    assert len(published) == 50
    assert all(5 <= pause <= 15 for pause in pauses)
    assert len(set(pauses)) > 40  # not one fixed pause
