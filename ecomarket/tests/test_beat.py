"""celery beat keeps firing after the clock jumps backwards: a persisted schedule whose last runs lie a year ahead
(written while the box ran with its clock a year ahead) silences neither a branch's sweeps nor central's
reconciliation (issue 12 item 3). Real processes: celery beat on Redis, its persisted schedule (a branch's file,
central's django-celery-beat tables on PostgreSQL), the messages it publishes."""

import json
import os
import shelve
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


@pytest.mark.mode("central")
def test_central_beat_reconciles_though_its_schedule_says_it_last_ran_a_year_ahead(tmp_path):
    chain = ProcessChain(tmp_path, branches=()).prepare()
    try:
        chain.central.manage("install_schedule")
        ahead = chain.central_sql(
            "UPDATE django_celery_beat_periodictask SET last_run_at = now() + interval '365 days' "
            "WHERE task = 'reconciliation.tasks.reconcile_task' RETURNING id"
        )
        queue = redis.Redis.from_url(chain.redis_urls[0])
        beat = CeleryBeat(chain.central).start()
        try:
            poll(
                lambda: "reconciliation.tasks.reconcile_task" in published(queue),
                timeout=30,
                interval=0.2,
                what="reconciliation published",
            )
        finally:
            beat.stop()
        stored = chain.central_sql(
            "SELECT count(*) FROM django_celery_beat_periodictask WHERE last_run_at < now() + interval '1 day'"
        )
    finally:
        chain.stop()
    assert len(ahead) == 2
    assert stored[0][0] >= 1, "the corrected last run was stored"
