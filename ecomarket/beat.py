"""celery beat schedulers that keep working across a clock that jumps back.

beat keeps each entry's last run (a branch: in ``DATA_DIR/celerybeat-schedule``; central: in django-celery-beat's
tables) and waits until last run + interval. A box that booted with its clock a year ahead, then was corrected by
NTP, leaves last runs a year in the future, and stock celery would wait that year: at a branch no push sweep, no
pull, no snapshot; at central no reconciliation. Here a last run in the future counts as no run, so the entry is
due at once (each task is safe to run again), and the correction is stored at once (not at beat's next sync, which
a stop could lose).

Stopping: stock celery beat answers SIGTERM by syncing the schedule inside the signal handler, on top of whatever
the main loop was doing; at central that is often a database call on the same connection (a schedule read, the
heartbeat, a save), and beat then lost the save or hung on its own connection until SIGKILL. Here a stop signal
only asks: beat stops at once if it is between two ticks, else when the tick or sync under way is done, and its
main loop stores the schedule on the way out.
"""

import contextlib
import logging
from datetime import timedelta

from celery import platforms
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

    # True while the scheduler reads or writes its store (a tick, a sync): a stop signal then waits for it.
    busy = False
    stopping = False

    @contextlib.contextmanager
    def _working(self):
        self.busy = True
        try:
            yield
        finally:
            self.busy = False

    def setup_schedule(self):
        with self._working():
            super().setup_schedule()
            self.future_runs_forget()

    def tick(self, *args, **kwargs):
        with self._working():
            # The clock may also jump while beat runs; a handful of entries, no I/O: cheap on every tick.
            if self.future_runs_forget():
                self._heap = None  # rebuilt from the entries on this tick
            interval = super().tick(*args, **kwargs)
        return 0 if self.stopping else interval  # asked to stop mid-tick: no sleep before the loop ends

    def _do_sync(self):
        with self._working():
            super()._do_sync()

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
            self.corrections_store(forgotten)
        return forgotten

    def corrections_store(self, names: list[str]) -> None:
        self.sync()


def stop_signals_install(service) -> None:
    """Replace celery beat's SIGTERM/SIGINT handler (which syncs inside the handler) with one that only asks
    ``service`` to stop; called from the ``beat_init`` signal, after celery installed its own."""

    def stop(signum, frame):
        if service._is_shutdown.is_set():
            return  # already on the way out: a second signal must not interrupt the final sync
        service._is_shutdown.set()
        scheduler = service.__dict__.get("scheduler")  # not yet made: its making reads the store
        if scheduler is None or scheduler.busy:
            if scheduler is not None:
                scheduler.stopping = True
            return
        raise SystemExit()  # between two ticks: the main loop is asleep and stores the schedule as it ends

    platforms.signals.update(SIGTERM=stop, SIGINT=stop)


class ClockSafeScheduler(ClockSafe, PersistentScheduler):
    """A branch's beat: celery's file-backed scheduler."""


if settings.IS_CENTRAL:  # django-celery-beat's models exist only there
    from django_celery_beat.schedulers import DatabaseScheduler

    class ClockSafeDatabaseScheduler(ClockSafe, DatabaseScheduler):
        """Central's beat: django-celery-beat's scheduler, its schedule editable in admin."""

        def corrections_store(self, names: list[str]) -> None:
            # A ModelEntry saves its model's last run, not its own.
            for name in names:
                entry = self._schedule[name]
                entry.model.last_run_at = entry.last_run_at
                self._dirty.add(name)
            self.sync()
