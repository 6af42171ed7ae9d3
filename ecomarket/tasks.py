"""Tasks of both modes."""

from celery import shared_task

from ecomarket.health import heartbeat_record
from ecomarket.models import Heartbeat


@shared_task(ignore_result=True)
def heartbeat_task() -> None:
    """The worker's heartbeat, sent by beat every HEARTBEAT_INTERVAL_S. Running it twice only writes the time
    again; a copy that waited too long in the broker expires instead of reporting a stale worker as alive."""
    heartbeat_record(component=Heartbeat.Component.WORKER)
