"""Liveness and readiness (docs/architecture.md, "The HTTP API") and the heartbeats readiness reads.

``/healthz`` stays cheap: the process answers and its database does. ``/readyz`` says whether this deployment can
do its job, component by component, and answers 503 when one cannot: the database, the broker, a Celery worker
and beat that still turn (their heartbeat rows are fresh), and at a branch an outbox that is not falling behind.
A load balancer or supervisor polls it; the JSON body tells a person which part is wrong.

Anyone may poll ``/readyz``, so a stranger gets the verdicts and the ages they were judged on, nothing more: the
host names and pids of the heartbeats and the text of a failed check's exception (which can name a database host or
a broker's address) go only to those who may scrape ``/metrics`` (ecomarket/metrics.py, the same rule).
"""

import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ecomarket.models import Heartbeat
from ecomarket.version import VERSION

BROKER_TIMEOUT_S = 2.0


def heartbeat_record(*, component: str) -> None:
    """Write ``component``'s heartbeat (one row each, overwritten). Idempotent; its own short transaction, so at
    a branch it queues for the write lock like every other writer."""
    close_old_connections()  # a beat process holds one connection for days: drop it if the server went away
    with transaction.atomic():
        Heartbeat.objects.update_or_create(
            component=component,
            defaults={"seen_at": timezone.now(), "host": f"{socket.gethostname()}:{os.getpid()}"},
        )


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _broker() -> dict:
    # The project's Celery app (the current one), without importing ecomarket/celery.py, which imports this module.
    from celery import current_app as app

    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return {"ok": os.access(folder, os.W_OK), "transport": "filesystem"}
    # kombu connects lazily and may retry for ever: one attempt, bounded, in a thread we do not wait on past the
    # timeout (a blackholed broker must not hold a readiness probe).
    outcome: dict = {"ok": False, "error": "no answer within the timeout"}

    def attempt():
        try:
            with app.connection_for_write(url) as broker:
                broker.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
                broker.default_channel  # noqa: B018 - opening a channel is what proves the broker answers
            outcome.update(ok=True, error="")
        except Exception as error:
            outcome.update(ok=False, error=f"{error.__class__.__name__}: {error}"[:200])

    thread = threading.Thread(target=attempt, name="readyz-broker", daemon=True)
    thread.start()
    thread.join(BROKER_TIMEOUT_S + 0.5)
    return {key: value for key, value in outcome.items() if value != ""}


def _heartbeats() -> dict:
    now = timezone.now()
    seen = {beat.component: beat for beat in Heartbeat.objects.all()}
    verdicts = {}
    for component in Heartbeat.Component.values:
        beat = seen.get(component)
        if beat is None:
            verdicts[component] = {"ok": False, "error": "no heartbeat yet"}
            continue
        # Judged on the age as shown: an unrounded 3.04 s was "stale" beside a shown age of 3.0 and a threshold of 3.
        age = round((now - beat.seen_at).total_seconds(), 1)
        verdicts[component] = {
            "ok": age <= settings.HEARTBEAT_STALE_S,
            "age_s": age,
            "threshold_s": settings.HEARTBEAT_STALE_S,
            "host": beat.host,
        }
    return verdicts


# Components an app adds to the verdict, registered from its AppConfig.ready() (a branch's outbox: branches/apps.py):
# name -> a function returning the component's verdict, ``{"ok": bool, ...}``.
_app_checks: dict = {}


def ready_check_register(name: str, check) -> None:
    _app_checks[name] = check


def _checked(check) -> dict:
    try:
        return check()
    except Exception as error:
        return {"ok": False, "error": f"{error.__class__.__name__}: {error}"[:200]}


# What a verdict shows a caller who may not scrape metrics: numbers it was judged on, no host, pid or error text.
PUBLIC_FIELDS = {"ok", "age_s", "threshold_s", "oldest_pending_age_s", "transport"}


def _public(verdict: dict) -> dict:
    return {key: value for key, value in verdict.items() if key in PUBLIC_FIELDS}


@require_GET
def readyz(request):
    """200 when every component is ready, else 503; the body has a verdict per component. No authentication (a
    load balancer polls it); the details that would help a stranger map the deployment only for allowed scrapers."""
    from ecomarket.metrics import scraper_allowed  # at call time: prometheus-client loads after settings

    components = {"database": _checked(_database), "broker": _checked(_broker)}
    heartbeats = _checked(_heartbeats)
    if "error" in heartbeats and "ok" in heartbeats:  # the heartbeat table could not be read at all
        components.update(worker=heartbeats, beat=heartbeats)
    else:
        components.update(heartbeats)
    components.update({name: _checked(check) for name, check in _app_checks.items()})
    ready = all(component["ok"] for component in components.values())
    allowed = scraper_allowed(request)
    if not allowed:
        components = {name: _public(verdict) for name, verdict in components.items()}
    body = {"status": "ready" if ready else "not_ready", "mode": settings.ECOMARKET_MODE.value}
    if allowed:  # an operator checking an upgrade; a stranger learns no release to look up known flaws of
        body["version"] = VERSION
    if settings.IS_BRANCH:
        body["branch"] = settings.BRANCH_CODE
    body["components"] = components
    return JsonResponse(body, status=200 if ready else 503)
