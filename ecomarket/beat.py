"""celery beat schedulers that keep working across a clock that jumps back.

beat keeps each entry's last run (a branch: in ``DATA_DIR/celerybeat-schedule``; central: in django-celery-beat's
tables) and waits until last run + interval. A box that booted with its clock a year ahead, then was corrected by
NTP, leaves last runs a year in the future, and stock celery would wait that year: at a branch no push sweep, no
pull, no snapshot; at central no reconciliation. Here a last run in the future counts as no run, so the entry is
due at once (each task is safe to run again), and its next run is stored with the corrected clock.
"""

import logging
from datetime import timedelta

from celery.beat import PersistentScheduler
from celery.utils.time import maybe_make_aware
from django.conf import settings

log = logging.getLogger(__name__)

# A clock stepped back by less than this (NTP slewing, a drifting RTC) only delays the next run by as much.
FUTURE_MARGIN = timedelta(seconds=60)
# Far enough back for any interval or crontab entry of this project to be due.
LONG_AGO = timedelta(days=366)


class ClockSafe:
    """Mixed into a celery beat scheduler, before it."""

    def setup_schedule(self):
        super().setup_schedule()
        self.future_runs_forget()

    def tick(self, *args, **kwargs):
        # The clock may also jump while beat runs; a handful of entries, no I/O: cheap on every tick.
        if self.future_runs_forget():
            self._heap = None  # rebuilt from the entries on this tick
        return super().tick(*args, **kwargs)

    def future_runs_forget(self) -> list[str]:
        """Make every entry whose last run lies in the future due now; returns their names."""
        forgotten = []
        for name, entry in self.schedule.items():
            now = maybe_make_aware(entry.default_now())
            if entry.last_run_at is not None and maybe_make_aware(entry.last_run_at) > now + FUTURE_MARGIN:
                entry.last_run_at = now - LONG_AGO
                forgotten.append(name)
        if forgotten:
            log.warning("beat: last run of %s lies in the future (clock moved back): due now", forgotten)
        return forgotten


class ClockSafeScheduler(ClockSafe, PersistentScheduler):
    """A branch's beat: celery's file-backed scheduler."""


if settings.IS_CENTRAL:  # django-celery-beat's models exist only there
    from django_celery_beat.schedulers import DatabaseScheduler

    class ClockSafeDatabaseScheduler(ClockSafe, DatabaseScheduler):
        """Central's beat: django-celery-beat's scheduler, its schedule editable in admin."""
