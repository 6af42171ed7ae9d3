"""Nightly housekeeping of both modes (ecomarket/housekeeping.py): expired sessions and old login records go, what
is still in use stays; and beat runs it, with the branch's outbox prune, in each mode's schedule."""

from datetime import UTC, datetime, timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from ecomarket.housekeeping import housekeeping_run
from ecomarket.tasks import housekeeping_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def session(expires: datetime) -> str:
    store = SessionStore()
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=expires)
    return store.session_key


def test_expired_sessions_go_and_live_ones_stay():
    expired, live = session(NOW - timedelta(seconds=1)), session(NOW + timedelta(minutes=10))

    assert housekeeping_run(now=NOW).sessions == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [live]
    assert expired != live


def access_log(at: datetime) -> AccessLog:
    entry = AccessLog.objects.create(username="caja1", ip_address="127.0.0.1", user_agent="test")
    AccessLog.objects.filter(pk=entry.pk).update(attempt_time=at)
    return entry


def test_login_records_past_the_retention_go_and_newer_ones_stay():
    retention = timedelta(days=settings.LOGIN_LOG_RETENTION_DAYS)
    access_log(NOW - retention - timedelta(hours=1))
    recent = access_log(NOW - retention + timedelta(hours=1))

    assert housekeeping_run(now=NOW).login_log == 1
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent.pk]


def attempt(at: datetime, username: str) -> None:
    entry = AccessAttempt.objects.create(username=username, ip_address="127.0.0.1", failures_since_start=3)
    AccessAttempt.objects.filter(pk=entry.pk).update(attempt_time=at)


def test_failure_counters_go_once_their_cool_off_ended_and_a_lockout_in_force_stays():
    attempt(NOW - settings.AXES_COOLOFF_TIME - timedelta(seconds=1), "cooled")
    attempt(NOW - settings.AXES_COOLOFF_TIME + timedelta(seconds=30), "locked")

    assert housekeeping_run(now=NOW).login_attempts == 1
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["locked"]


def test_a_second_run_finds_nothing_more():
    session(NOW - timedelta(days=1))
    access_log(NOW - timedelta(days=settings.LOGIN_LOG_RETENTION_DAYS + 1))
    housekeeping_run(now=NOW)

    assert set(housekeeping_run(now=NOW).as_dict().values()) == {0}


def test_the_task_runs_it():
    session(datetime(2000, 1, 1, tzinfo=UTC))

    assert housekeeping_task.apply().get()["sessions"] == 1


@pytest.mark.mode("branch")
def test_branch_beat_prunes_the_outbox_and_keeps_house_nightly():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert schedule["branches.tasks.outbox_prune_task"] == schedule["ecomarket.tasks.housekeeping_task"] == 86400


@pytest.mark.mode("central")
def test_install_schedule_keeps_house_nightly_at_central():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("install_schedule")

    task = PeriodicTask.objects.get(task="ecomarket.tasks.housekeeping_task")
    assert (task.enabled, task.crontab.hour, task.interval) == (True, "4", None)
