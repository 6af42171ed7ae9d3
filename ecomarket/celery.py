"""The Celery app (cookiecutter-django's shape): configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery, Task

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
