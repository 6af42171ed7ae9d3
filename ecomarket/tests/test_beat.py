"""celery beat keeps firing after the clock jumps backwards: a persisted schedule whose last runs lie a year ahead
(written while the box ran with its clock a year ahead) silences neither a branch's sweeps nor central's
reconciliation. Real processes: celery beat on Redis, its persisted schedule (a branch's file,
central's django-celery-beat tables on PostgreSQL), the messages it publishes."""

import json
import os
import shelve
import signal
from datetime import timedelta

import celery
import pytest
import redis
from celery.beat import ScheduleEntry
from celery.schedules import schedule
from django.conf import settings
from django.utils import timezone

from harness.chain import ProcessChain
from harness.processes import CeleryBeat, Node, poll

pytestmark = [pytest.mark.processes]

TASKS = {
    "outbox-push-sweep": "branches.tasks.outbox_push_task",
    "changes-pull": "branches.tasks.changes_pull_task",
    "stock-snapshot": "branches.tasks.stock_snapshot_task",
}


def schedule_from_the_future(path) -> None:
    """The file celery beat keeps (DATA_DIR/celerybeat-schedule), as a beat that ran a year ahead left it."""
    ahead = timezone.now() + timedelta(days=365)
    with shelve.open(str(path)) as store:
        store["entries"] = {
            name: ScheduleEntry(name=name, task=task, schedule=schedule(timedelta(seconds=1)), last_run_at=ahead)
            for name, task in TASKS.items()
        }
        store["__version__"] = celery.__version__
        store["tz"] = settings.CELERY_TIMEZONE
        store["utc_enabled"] = True


def published(queue: redis.Redis) -> set[str]:
    return {json.loads(message)["headers"]["task"] for message in queue.lrange("celery", 0, -1)}


@pytest.mark.mode("branch")
def test_beat_fires_every_task_though_its_schedule_says_they_last_ran_a_year_ahead(tmp_path):
    broker = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/8"
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    node = Node(
        mode="branch",
        data_dir=tmp_path,
        env={
            "BRANCH_CODE": "B001",
            "CELERY_BROKER_URL": broker,
            "SYNC_PUSH_SWEEP_S": "1",
            "SYNC_PULL_INTERVAL_S": "1",
            "STOCK_SNAPSHOT_INTERVAL_S": "1",
        },
    )
    schedule_from_the_future(tmp_path / "celerybeat-schedule")
    beat = CeleryBeat(node).start()
    try:
        poll(lambda: published(queue) == set(TASKS.values()), timeout=30, interval=0.2, what="every task published")
    finally:
        beat.stop()
        queue.flushdb()
    assert "Reset" not in beat.log(), "beat discarded the stored schedule instead of reading it"


def stored_runs_ahead(chain) -> int:
    """Whether central's stored incremental reconciliation still says it last ran more than a day ahead (the
    nightly one is loaded by django-celery-beat only in the hours around its crontab, so only then corrected)."""
    return chain.central_sql(
        "SELECT count(*) FROM django_celery_beat_periodictask "
        "WHERE name = 'reconcile (incremental)' AND last_run_at > now() + interval '1 day'"
    )[0][0]


def central_beat_ahead(chain) -> int:
    """Central's reconciliation schedule, installed as a beat a year ahead left it; returns the entries set ahead."""
    chain.central.manage("install_schedule")
    return len(
        chain.central_sql(
            "UPDATE django_celery_beat_periodictask SET last_run_at = now() + interval '365 days' "
            "WHERE task = 'reconciliation.tasks.reconcile_task' RETURNING id"
        )
    )


@pytest.mark.mode("central")
def test_central_beat_reconciles_though_its_schedule_says_it_last_ran_a_year_ahead(tmp_path):
    chain = ProcessChain(tmp_path, branches=()).prepare()
    try:
        assert central_beat_ahead(chain) == 2
        queue = redis.Redis.from_url(chain.redis_urls[0])
        beat = CeleryBeat(chain.central).start()
        try:
            poll(
                lambda: "reconciliation.tasks.reconcile_task" in published(queue),
                timeout=30,
                interval=0.2,
                what="reconciliation published",
            )
            poll(lambda: stored_runs_ahead(chain) == 0, timeout=30, interval=0.2, what="the corrected runs stored")
        finally:
            beat.stop()
    finally:
        chain.stop()


@pytest.mark.mode("central")
def test_central_beat_stopped_right_after_it_publishes_exits_and_keeps_the_corrected_run(tmp_path):
    """SIGTERM while beat is between its publish and its schedule save (the heartbeat's transaction, the save
    itself): beat ends by itself, without SIGKILL, and the correction made before the publish is stored."""
    chain = ProcessChain(tmp_path, branches=()).prepare()
    try:
        central_beat_ahead(chain)
        queue = redis.Redis.from_url(chain.redis_urls[0])
        beat = CeleryBeat(chain.central).start()
        try:
            poll(
                lambda: "reconciliation.tasks.reconcile_task" in published(queue),
                timeout=30,
                interval=0.01,
                what="reconciliation published",
            )
            beat.signal(signal.SIGTERM)
            exit_code = beat.popen.wait(timeout=30)
        finally:
            beat.stop()
        assert exit_code == 0, beat.log()
        assert stored_runs_ahead(chain) == 0, "the corrected last run was stored"
    finally:
        chain.stop()
