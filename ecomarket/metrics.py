"""Prometheus metrics for both modes, served at ``/metrics`` to allowed scrapers only (docs/architecture.md, "The HTTP
API" and "Operating a chain").

Two kinds, kept apart on purpose:

- **What happened** (requests, sales, pushes, ingested events, write-lock waits): counters and histograms of
  prometheus-client in multiprocess mode. Every process (each gunicorn worker, each Celery pool process, a
  ``manage.py`` command) writes its own small mmap file under ``PROMETHEUS_MULTIPROC_DIR`` (``DATA_DIR/metrics``,
  set by settings before this module imports prometheus-client); a scrape adds them up, so it does not matter
  which worker answers it. ecomarket/gunicorn_conf.py drops the files of processes that are gone when gunicorn
  starts.
- **What is** (outbox backlog, per-branch lag, open discrepancies, heartbeats, file sizes): read from the
  database and the filesystem at scrape time by :class:`StateCollector`, through the readers each app registers
  from its ``AppConfig.ready()`` (``branches/metrics.py``, ``chain/metrics.py``, ``reconciliation/metrics.py``).
  Nothing on the sale path keeps them up to date, they cannot drift, and they are right after any restart.

This module keeps the definitions, the recording and the view; it imports no app.

Recording costs a few microseconds (a lock and a write into an mmap'd page per value); docs/benchmarks.md has
the sale benchmark before and after.
"""

import functools
import hmac
import ipaddress
import logging
import os
import time
from pathlib import Path

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

from ecomarket import logs
from ecomarket.version import VERSION

# prometheus-client picks single- or multi-process values when it is first imported, from the environment that
# settings.py sets up. Imported earlier, each gunicorn worker would count on its own and a scrape see one of them.
if values.ValueClass is values.MutexValue:
    raise ImproperlyConfigured("prometheus_client was imported before settings set PROMETHEUS_MULTIPROC_DIR")

log = logging.getLogger(__name__)

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

# Both modes
REQUEST_SECONDS = Histogram(
    "ecomarket_http_request_duration_seconds", "Time to answer a request, by route", ["route", "method"], buckets=_FAST
)
REQUESTS = Counter("ecomarket_http_requests", "Requests answered, by route and status class", ["route", "status"])

# Branch
SALES = Counter("ecomarket_sales", "Sales recorded at this branch (a replayed sale id is not counted again)")
RETURNS = Counter("ecomarket_returns", "Returns recorded at this branch")
VOIDS = Counter("ecomarket_voids", "Sales voided at this branch")
WRITE_LOCK_WAIT = Histogram(
    "ecomarket_sqlite_write_lock_wait_seconds",
    "Time a write transaction queued for the branch's SQLite write lock (ecomarket/sqlite/base.py)",
    buckets=(0.0005, *_FAST),
)
PUSH_ATTEMPTS = Counter("ecomarket_push_attempts", "Batches sent to central, by outcome", ["outcome"])
PUSH_SECONDS = Histogram("ecomarket_push_duration_seconds", "Time central took to answer a pushed batch", buckets=_SLOW)
PULL_ATTEMPTS = Counter("ecomarket_pull_attempts", "Change-feed pages asked of central, by outcome", ["outcome"])

# Central
INGEST_EVENTS = Counter("ecomarket_ingest_events", "Branch events received, by outcome", ["outcome"])
INGEST_SECONDS = Histogram(
    "ecomarket_ingest_batch_duration_seconds", "Time to store one pushed batch (one transaction)", buckets=_SLOW
)
ADMISSION_WAIT = Histogram(
    "ecomarket_sync_admission_wait_seconds",
    "Time a sync request that found every slot of its kind busy waited in the queue, by kind (push, pull) and whether "
    "it got one (branches/admission.py)",
    ["kind", "outcome"],
    buckets=_FAST,
)
INGEST_OUTCOMES = ("accepted", "duplicate", "conflict", "rejected")
LINK_OUTCOMES = ("ok", "throttled", "refused", "error", "unreachable")

# ----------------------------------------------------------------------------------------------------------------
# Recording: one call where something happens
# ----------------------------------------------------------------------------------------------------------------


_request_series: dict[tuple[str, str, int], tuple] = {}


def request_observe(request, status: int, seconds: float) -> None:
    """One answered request. The route is the URL pattern (``api/v1/sales/<uuid:sale_id>``), not the path, so the
    number of series stays bounded whatever clients send; each one's children are looked up once per process
    (prometheus-client's ``labels()`` checks and locks on every call, a cost every sale would pay)."""
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None and match.route else "unmatched"
    key = (route, request.method, status // 100)
    series = _request_series.get(key)
    if series is None:
        series = _request_series[key] = (
            REQUEST_SECONDS.labels(route, request.method),
            REQUESTS.labels(route, f"{status // 100}xx"),
        )
    series[0].observe(seconds)
    series[1].inc()


def _link_outcome(status: int) -> str:
    if status == 200:
        return "ok"
    if status in (429, 503):
        return "throttled"
    return "refused" if status < 500 else "error"


class _LinkAdapter(requests.adapters.HTTPAdapter):
    """Times and counts every call a branch makes to central, and sends the current request id with it (the
    Celery task's id in a worker: see ecomarket/celery.py), so central's log lines of a push carry the same id as
    the branch's."""

    def send(self, request, **kwargs):
        request.headers.setdefault("X-Request-ID", logs.request_id_current())
        push = "/sync/events" in request.path_url
        started = time.perf_counter()
        outcome = "unreachable"
        try:
            response = super().send(request, **kwargs)
            outcome = _link_outcome(response.status_code)
            return response
        finally:
            seconds = time.perf_counter() - started
            if push:
                PUSH_ATTEMPTS.labels(outcome).inc()
                PUSH_SECONDS.observe(seconds)
                log.info("push to central: %s in %.3f s", outcome, seconds)
            else:
                PULL_ATTEMPTS.labels(outcome).inc()


def link_session_instrument(session: requests.Session) -> requests.Session:
    adapter = _LinkAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def ingest_instrumented(ingest):
    """Decorates central's ``events_ingest``: counts each event by what became of it and times the batch."""

    @functools.wraps(ingest)
    def instrumented(*, branch, **kwargs):
        started = time.perf_counter()
        result = ingest(branch=branch, **kwargs)
        seconds = time.perf_counter() - started
        INGEST_SECONDS.observe(seconds)
        counts = dict(
            zip(
                INGEST_OUTCOMES,
                (len(result.accepted), len(result.duplicates), len(result.conflicts), len(result.rejected)),
                strict=True,
            )
        )
        for outcome, count in counts.items():
            if count:
                INGEST_EVENTS.labels(outcome).inc(count)
        log.info(
            "batch from %s: %s accepted, %s duplicate, %s conflict, %s rejected in %.3f s",
            branch.code,
            *counts.values(),
            seconds,
        )
        return result

    return instrumented


def _series_init() -> None:
    """Every labelled series exists from the start at 0, so ``rate()`` and ``increase()`` see the first event."""
    if settings.IS_BRANCH:
        for outcome in LINK_OUTCOMES:
            PUSH_ATTEMPTS.labels(outcome)
            PULL_ATTEMPTS.labels(outcome)
    else:
        for outcome in INGEST_OUTCOMES:
            INGEST_EVENTS.labels(outcome)


_series_init()

# ----------------------------------------------------------------------------------------------------------------
# State, read at scrape time
# ----------------------------------------------------------------------------------------------------------------


def age(moment, now) -> float:
    """Seconds from ``moment`` to ``now``, never below zero (a clock that stepped back)."""
    return max(0.0, (now - moment).total_seconds())


# What the apps read at scrape time, each a function of the time now that returns metric families, registered from
# their AppConfig.ready() for the mode the process runs in (branches/metrics.py, chain/metrics.py,
# reconciliation/metrics.py): the readers of the database, then those of files, which answer whatever it does.
_database_readers: list = []
_file_readers: list = []


def state_reader_register(reader, *, database: bool = True) -> None:
    """Have every scrape call ``reader(now)``; registering one twice keeps one."""
    readers = _database_readers if database else _file_readers
    if reader not in readers:
        readers.append(reader)


class StateCollector:
    """Gauges that describe state, read from the database (and the SQLite files) when Prometheus scrapes. A
    database that does not answer gives ``ecomarket_database_up 0`` instead of a failed scrape, so the request
    counters are still collected and the alert says what is wrong."""

    def collect(self):
        from django.utils import timezone

        now = timezone.now()
        yield _build_info()
        try:
            families = _heartbeat_state(now) + ([] if settings.IS_BRANCH else [_database_bytes()])
            families += [family for reader in _database_readers for family in reader(now)]
        except Exception as error:  # the database is down or a table is missing: say so, keep the rest
            log.warning("metrics: state not readable: %s: %s", error.__class__.__name__, error)
            yield GaugeMetricFamily("ecomarket_database_up", "1 if the database answered this scrape", 0)
        else:
            yield GaugeMetricFamily("ecomarket_database_up", "1 if the database answered this scrape", 1)
            yield from families
        if settings.IS_BRANCH:
            yield from _sqlite_files()
        for reader in _file_readers:
            yield from reader(now)


def _build_info() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ecomarket_build_info", "Always 1: the release this server runs and its mode", labels=["version", "mode"]
    )
    family.add_metric([VERSION, settings.ECOMARKET_MODE.value], 1)
    return family


def _heartbeat_state(now) -> list:
    from ecomarket.models import Heartbeat

    family = GaugeMetricFamily(
        "ecomarket_heartbeat_age_seconds",
        "Seconds since the Celery worker / beat last wrote its heartbeat",
        labels=["component"],
    )
    for heartbeat in Heartbeat.objects.all():
        family.add_metric([heartbeat.component], age(heartbeat.seen_at, now))
    return [family]


def _sqlite_files() -> list:
    path = Path(str(settings.DATABASES["default"]["NAME"]))
    family = GaugeMetricFamily("ecomarket_sqlite_file_bytes", "Size of the branch's SQLite files", labels=["file"])
    for name, file in (("db", path), ("wal", Path(f"{path}-wal"))):
        try:
            family.add_metric([name], file.stat().st_size)
        except OSError:
            family.add_metric([name], 0)
    return [family]


def _database_bytes() -> GaugeMetricFamily:
    """Central's database on disk: PostgreSQL's own figure, or the SQLite file of the embedded default."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
    else:
        try:
            size = Path(str(settings.DATABASES["default"]["NAME"])).stat().st_size
        except OSError:
            size = 0
    return GaugeMetricFamily("ecomarket_database_bytes", "Size of head office's database on disk", size)


# ----------------------------------------------------------------------------------------------------------------
# Serving
# ----------------------------------------------------------------------------------------------------------------


@functools.cache
def _networks(allowed: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in allowed if entry.strip())


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.METRICS_ALLOW_FROM)))


def scraper_allowed(request) -> bool:
    """Whether the caller may scrape: it sends ``Authorization: Bearer <METRICS_TOKEN>``, or its address is in
    ``METRICS_ALLOW_FROM`` and it sends no credential. ``/readyz`` shows its details by the same rule."""
    from ecomarket.addresses import client_address  # not at import: the SQLite backend imports this module early

    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, offered = header.partition(" ")
        return (
            bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())
        )
    # The scraper's own address, not nginx's: behind the shipped sites every request comes from 127.0.0.1.
    return _address_allowed(client_address(request))


def scraper_refusal(request) -> HttpResponse | None:
    """None for an allowed scraper (``scraper_allowed``). Anyone else gets 401 (a token would be accepted) or 403
    (this address may not scrape)."""
    from ecomarket.errors import json_error  # not at import: the SQLite backend imports this module early

    if scraper_allowed(request):
        return None
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token or header:
        response = json_error("not_authenticated", "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'.", 401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return json_error("permission_denied", "This address may not scrape metrics (METRICS_ALLOW_FROM).", 403)


def metrics_view(request):
    """``GET /metrics``: Prometheus text format, every process's counters added up, state read now."""
    refusal = scraper_refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector())
    # The classic text format (0.0.4), which every Prometheus reads (Debian's 2.42 included); our names fit it.
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def multiprocess_files_prune(folder: Path) -> int:
    """Remove the metric files of processes that no longer run (their counters restart from zero, which
    Prometheus's ``rate()`` handles as a counter reset). Called when gunicorn starts; returns how many went."""
    removed = 0
    for file in Path(folder).glob("*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_dead(pid: int) -> None:
    multiprocess.mark_process_dead(pid)
