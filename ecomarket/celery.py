"""The Celery app (cookiecutter-django's shape): configured from Django settings under the CELERY_ namespace."""

import os
import time

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomarket.settings")


class BusyRetryTask(Task):
    """Every task's base. A task whose write found the database busy (a stopped process holding a branch's write
    lock past SQLITE_BUSY_TIMEOUT_S) is tried again later, for as long as it takes: failing instead would lose
    the work, since a failed task's message is acknowledged (acks_late) and gone. Retrying is safe because every
    task here is idempotent."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            from ecomarket.errors import BUSY_RETRY_AFTER_S, database_busy

            if not database_busy(error):
                raise
            raise self.retry(exc=error, countdown=BUSY_RETRY_AFTER_S, max_retries=None) from error


app = Celery("ecomarket", task_cls=BusyRetryTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# ----------------------------------------------------------------------------------------------------------------
# Observability hooks (ecomarket/logs.py, ecomarket/health.py)
# ----------------------------------------------------------------------------------------------------------------
_in_beat = False
_beat_written_at = float("-inf")


@signals.task_prerun.connect
def _task_context_begin(task_id=None, **_):
    """A task's log lines (and the calls it makes to central) carry its id as their request id."""
    from ecomarket import logs

    logs.context_begin(task_id or "")


@signals.task_postrun.connect
def _task_context_end(**_):
    from ecomarket import logs

    logs.context_clear()


@signals.beat_init.connect
def _beat_started(sender=None, **_):
    global _in_beat
    _in_beat = True
    from ecomarket.beat import stop_signals_install

    stop_signals_install(sender)


@signals.after_task_publish.connect
def _beat_heartbeat(**_):
    """Beat's heartbeat: written when beat has just sent a task (so its loop turns and the broker takes what it
    sends), at most every half HEARTBEAT_INTERVAL_S; beat sends the worker's heartbeat task at least that often."""
    global _beat_written_at
    if not _in_beat:
        return
    from django.conf import settings

    if time.monotonic() - _beat_written_at < settings.HEARTBEAT_INTERVAL_S / 2:
        return
    from ecomarket.health import heartbeat_record

    heartbeat_record(component="beat")
    _beat_written_at = time.monotonic()
