"""Each mode's periodic tasks are listed once (ecomarket/schedule.py): beat's settings and central's
``install_schedule`` both read that list, and every task it names is one the worker knows."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command

from ecomarket.celery import app
from ecomarket.modes import Mode
from ecomarket.schedule import beat_schedule, database_entries, entries


def test_beat_reads_this_modes_schedule_from_the_one_list():
    assert beat_schedule(settings.ECOMARKET_MODE, settings) == settings.CELERY_BEAT_SCHEDULE
    assert "heartbeat" in settings.CELERY_BEAT_SCHEDULE


def test_every_scheduled_task_is_one_this_modes_worker_knows():
    app.loader.import_default_modules()
    for entry in entries(settings.ECOMARKET_MODE, settings):
        assert entry.task in app.tasks, entry.name
        assert (entry.every is None) != (entry.at is None), entry.name


@pytest.mark.parametrize("mode", list(Mode))
def test_each_entry_is_read_by_one_reader(mode):
    names = [entry.name for entry in entries(mode, settings)]
    in_settings = set(beat_schedule(mode, settings))

    assert len(set(names)) == len(names)
    assert in_settings | {entry.name for entry in entries(mode, settings) if entry.in_database} == set(names)
    assert mode == Mode.CENTRAL or in_settings == set(names)  # a branch has no database schedule


@pytest.mark.mode("central")
@pytest.mark.django_db
def test_install_schedule_writes_centrals_database_entries_as_listed():
    from django_celery_beat.models import PeriodicTask

    call_command("install_schedule", stdout=io.StringIO())

    written = {task.name: task for task in PeriodicTask.objects.exclude(name__in=settings.CELERY_BEAT_SCHEDULE)}
    listed = {entry.name: entry for entry in database_entries(settings)}
    assert set(written) == set(listed)
    for name, entry in listed.items():
        task = written[name]
        assert (task.task, json.loads(task.kwargs), task.enabled) == (entry.task, entry.kwargs, True)
        if entry.every is not None:
            assert (task.interval.every, task.crontab) == (entry.every, None)
        else:
            assert (task.crontab.hour, task.crontab.minute, task.interval) == (str(entry.at[0]), str(entry.at[1]), None)
