"""Housekeeping of both modes: the tables that would otherwise grow for ever with nobody reading their old rows.
Run nightly by beat (ecomarket.tasks.housekeeping_task); the branch's outbox has its own (branches/outbox.py).

What goes: stored sessions past their expiry (what Django's ``clearsessions`` does; a session that expired is
refused anyway), django-axes' record of each login older than LOGIN_LOG_RETENTION_DAYS (kept that long for a
manager looking into a break-in, then only weight) and its failure counters whose cool-off ended (axes deletes
those itself only when the same login is tried again). At a branch, its own sales and ledger rows past
BRANCH_RECORDS_RETENTION_DAYS that head office holds (inventory/retention.py); at head office, resolved
discrepancies' detail (reconciliation/findings.py) and hourly report roll-ups past their horizon
(reports/services.py). Those apps register their steps from their ``AppConfig.ready()`` (``step_register``), so this
package imports no app."""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

log = logging.getLogger(__name__)

# An app's nightly step: given the run's instant, it deletes what it owns past its retention and answers how many
# rows of each kind went, named as Housekeeping's fields.
Step = Callable[[datetime], dict[str, int]]
_steps: list[Step] = []


def step_register(step: Step) -> None:
    """Have every housekeeping run call ``step(now)`` after the project's own; registering one twice keeps one."""
    if step not in _steps:
        _steps.append(step)


@dataclass
class Housekeeping:
    sessions: int = 0
    login_log: int = 0
    login_attempts: int = 0
    sales: int = 0
    ledger_rows: int = 0
    discrepancy_details: int = 0
    report_hours: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def housekeeping_run(*, now: datetime | None = None) -> Housekeeping:
    """Delete expired sessions, login records past LOGIN_LOG_RETENTION_DAYS, failure counters whose cool-off ended
    and each mode's records past their retention; returns (and logs) how many of each. Safe to run twice: what goes
    is past use, and a second run finds nothing more. Short transactions (a branch's tills queue for the write
    lock)."""
    now = now or timezone.now()
    done = Housekeeping()
    with transaction.atomic():
        # The database engine's rows (SESSION_ENGINE is Django's default); a cookie naming one gets a new session.
        done.sessions = Session.objects.filter(expire_date__lt=now).delete()[0]
    log_cutoff = now - timedelta(days=settings.LOGIN_LOG_RETENTION_DAYS)
    with transaction.atomic():
        done.login_log = AccessLog.objects.filter(attempt_time__lt=log_cutoff).delete()[0]
        done.login_log += AccessFailureLog.objects.filter(attempt_time__lt=log_cutoff).delete()[0]
    with transaction.atomic():
        # Past the cool-off axes counts an attempt as expired already: deleting it changes no lockout.
        cooled = now - settings.AXES_COOLOFF_TIME
        done.login_attempts = AccessAttempt.objects.filter(attempt_time__lt=cooled).delete()[0]
    for step in _steps:
        for name, count in step(now).items():
            setattr(done, name, getattr(done, name) + count)  # a name Housekeeping lacks is an AttributeError
    log.info("housekeeping: %s", done.as_dict())
    return done
