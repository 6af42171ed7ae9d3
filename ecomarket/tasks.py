"""Tasks of both modes."""

from celery import shared_task

from ecomarket.health import heartbeat_record
from ecomarket.housekeeping import housekeeping_run
from ecomarket.models import Heartbeat


@shared_task(ignore_result=True)
def heartbeat_task() -> None:
    """The worker's heartbeat, sent by beat every HEARTBEAT_INTERVAL_S. Running it twice only writes the time
    again; a copy that waited too long in the broker expires instead of reporting a stale worker as alive."""
    heartbeat_record(component=Heartbeat.Component.WORKER)


@shared_task(ignore_result=True)
def housekeeping_task() -> dict:
    """Delete expired sessions, login records and each mode's records past their retention
    (ecomarket/housekeeping.py), nightly in either mode. Safe to run twice: it deletes only rows already past use
    that head office holds, and a second run finds none."""
    return housekeeping_run().as_dict()
