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
  database and the filesystem at scrape time by :class:`StateCollector`. Nothing on the sale path keeps them up
  to date, they cannot drift, and they are right after any restart.

Recording costs a few microseconds (a lock and a write into an mmap'd page per value); docs/benchmarks.md has
the sale benchmark before and after.
"""

import functools
import hmac
import ipaddress
import logging
import math
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


def _age(moment, now) -> float:
    return max(0.0, (now - moment).total_seconds())


class StateCollector:
    """Gauges that describe state, read from the database (and the SQLite files) when Prometheus scrapes. A
    database that does not answer gives ``ecomarket_database_up 0`` instead of a failed scrape, so the request
    counters are still collected and the alert says what is wrong."""

    def collect(self):
        from django.utils import timezone

        now = timezone.now()
        yield _build_info()
        try:
            families = [*_heartbeat_state(now), *(_branch_state(now) if settings.IS_BRANCH else _central_state(now))]
        except Exception as error:  # the database is down or a table is missing: say so, keep the rest
            log.warning("metrics: state not readable: %s: %s", error.__class__.__name__, error)
            yield GaugeMetricFamily("ecomarket_database_up", "1 if the database answered this scrape", 0)
        else:
            yield GaugeMetricFamily("ecomarket_database_up", "1 if the database answered this scrape", 1)
            yield from families
        if settings.IS_BRANCH:
            yield from _sqlite_files()
            yield from _backup_age()


def _build_info() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ecomarket_build_info", "Always 1: the release this server runs and its mode", labels=["version", "mode"]
    )
    family.add_metric([VERSION, settings.ECOMARKET_MODE.value], 1)
    return family


# A branch that sent no version header (a release older than the header) is counted under this label.
VERSION_UNKNOWN = "unknown"


def _heartbeat_state(now) -> list:
    from ecomarket.models import Heartbeat

    family = GaugeMetricFamily(
        "ecomarket_heartbeat_age_seconds",
        "Seconds since the Celery worker / beat last wrote its heartbeat",
        labels=["component"],
    )
    for heartbeat in Heartbeat.objects.all():
        family.add_metric([heartbeat.component], _age(heartbeat.seen_at, now))
    return [family]


def _branch_state(now) -> list:
    from django.apps import apps
    from django.db.models import Count, Min

    from branches.models import OutboxEvent, OutboxState, ReplayFailure, SyncState

    rows = {
        row["state"]: row
        for row in OutboxEvent.objects.filter(state__in=[OutboxState.PENDING, OutboxState.PARKED])
        .values("state")
        .annotate(count=Count("id"), oldest=Min("occurred_at"))
        .order_by()
    }
    pending = rows.get(OutboxState.PENDING, {"count": 0, "oldest": None})
    state = SyncState.objects.filter(pk=1).first() or SyncState()
    families = [
        GaugeMetricFamily(
            "ecomarket_outbox_pending_events", "Events waiting in the outbox for central", pending["count"]
        ),
        GaugeMetricFamily(
            "ecomarket_outbox_parked_events",
            "Events central refused, parked until re-sent",
            rows.get(OutboxState.PARKED, {"count": 0})["count"],
        ),
        GaugeMetricFamily(
            "ecomarket_outbox_oldest_pending_age_seconds",
            "Age of the oldest event still waiting for central (0 when none waits)",
            _age(pending["oldest"], now) if pending["oldest"] else 0,
        ),
        GaugeMetricFamily("ecomarket_push_consecutive_failures", "Pushes that failed in a row", state.push_failures),
        GaugeMetricFamily(
            "ecomarket_changes_cursor", "The change-feed cursor this branch has applied up to", state.pull_cursor
        ),
        GaugeMetricFamily(
            "ecomarket_replay_failures",
            "Events central holds that this branch's replay after a restore could not apply here",
            ReplayFailure.objects.count(),
        ),
    ]
    ages = (
        ("ecomarket_last_push_ok_age_seconds", "Seconds since central last took a push", state.last_push_ok_at),
        (
            "ecomarket_changes_lag_seconds",
            "Seconds since the change feed was last pulled and applied (how far behind head office it may be)",
            state.last_pull_at,
        ),
    )
    families += [GaugeMetricFamily(name, text, _age(moment, now)) for name, text, moment in ages if moment]
    families += _chain_replica_state()
    # Failed changes (issue 12) are recorded by the pull once that exists; the gauge follows the model.
    failed = apps.all_models["branches"].get("failedchange")
    if failed is not None:
        families.append(
            GaugeMetricFamily(
                "ecomarket_changes_failed", "Change-feed items this branch could not apply", failed.objects.count()
            )
        )
    return families


def _chain_replica_state() -> list:
    """The age of the branch's replica of other stores' stock and of its index of the chain's sales (chain/)."""
    from chain.models import ChainSale
    from chain.selectors import chain_replica_status

    status = chain_replica_status()
    families = [
        GaugeMetricFamily(
            "ecomarket_chain_stock_stale",
            "1 when other stores' figures are older than CHAIN_STOCK_STALE_S (or none came yet): not shown as current",
            int(status["chain_stock_stale"]),
        ),
        GaugeMetricFamily(
            "ecomarket_sale_index_entries", "Sales of the chain in this branch's index", ChainSale.objects.count()
        ),
    ]
    if status["chain_stock_age_s"] is not None:
        families.append(
            GaugeMetricFamily(
                "ecomarket_chain_stock_age_seconds",
                "Seconds since other stores' figures in the replica were true at head office",
                status["chain_stock_age_s"],
            )
        )
    return families


def _sqlite_files() -> list:
    path = Path(str(settings.DATABASES["default"]["NAME"]))
    family = GaugeMetricFamily("ecomarket_sqlite_file_bytes", "Size of the branch's SQLite files", labels=["file"])
    for name, file in (("db", path), ("wal", Path(f"{path}-wal"))):
        try:
            family.add_metric([name], file.stat().st_size)
        except OSError:
            family.add_metric([name], 0)
    return [family]


def _backup_age() -> list:
    """The newest backup's age, and the newest one copied off the box, in seconds: +Inf when there is none, so the
    alert fires on a box that never took one as on one whose backups stopped. The off-box age only where a copy is
    configured; ``backup_offbox_configured`` tells the boxes that keep their backups on their own disk alone."""
    from branches.backup import branch_backup_offbox_taken_at, branch_backups, offbox_configured

    try:
        backups = branch_backups()
        newest = backups[-1].stat().st_mtime if backups else None
    except OSError:
        newest = None
    now = time.time()
    families = [
        GaugeMetricFamily(
            "ecomarket_backup_age_seconds",
            "Seconds since the newest backup was taken (+Inf: none in BACKUP_DIR)",
            now - newest if newest is not None else math.inf,
        ),
        GaugeMetricFamily(
            "ecomarket_backup_offbox_configured",
            "1 if backups are copied off the box (BACKUP_COPY_TO or BACKUP_COPY_COMMAND)",
            int(offbox_configured()),
        ),
    ]
    if offbox_configured():
        copied = branch_backup_offbox_taken_at()
        families.append(
            GaugeMetricFamily(
                "ecomarket_backup_offbox_age_seconds",
                "Seconds since the newest backup copied off the box was taken (+Inf: none was copied)",
                now - copied if copied is not None else math.inf,
            )
        )
    return families


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


def _central_state(now) -> list:
    from django.db.models import Count

    from branches.models import Branch
    from reconciliation.models import (
        OPEN_STATUSES,
        Discrepancy,
        DiscrepancyKind,
        OversellCase,
        OversellStatus,
        ReconciliationRun,
    )

    per_branch = {
        "ecomarket_branch_last_seen_age_seconds": "Seconds since the branch last pushed",
        "ecomarket_branch_high_water_seq": "Largest S such that the branch's events 1..S are all stored",
        "ecomarket_branch_lag_events": "Events the branch numbered that central does not hold all of yet",
        "ecomarket_branch_pending_reported": "Events waiting in the branch's outbox, as it said on its last push",
        "ecomarket_branch_clock_skew_seconds": "The branch's clock minus head office's, measured at its latest push "
        "that moved it by a second or more (positive: the branch is ahead)",
    }
    families = {name: GaugeMetricFamily(name, text, labels=["branch"]) for name, text in per_branch.items()}
    versions = GaugeMetricFamily(
        "ecomarket_branch_version_info",
        "Always 1: the release each branch named on its latest push or pull ('unknown': it named none)",
        labels=["branch", "version"],
    )
    for branch in Branch.objects.filter(revoked_at__isnull=True).only(
        "code", "last_seen_at", "high_water_seq", "max_seq_seen", "pending_reported", "software_version", "clock_skew_s"
    ):
        code = [branch.code]
        versions.add_metric([branch.code, branch.software_version or VERSION_UNKNOWN], 1)
        if branch.last_seen_at:
            families["ecomarket_branch_last_seen_age_seconds"].add_metric(code, _age(branch.last_seen_at, now))
        families["ecomarket_branch_high_water_seq"].add_metric(code, branch.high_water_seq)
        families["ecomarket_branch_lag_events"].add_metric(code, branch.lag)
        if branch.pending_reported is not None:
            families["ecomarket_branch_pending_reported"].add_metric(code, branch.pending_reported)
        if branch.clock_skew_s is not None:
            families["ecomarket_branch_clock_skew_seconds"].add_metric(code, branch.clock_skew_s)

    open_by_kind = dict(
        Discrepancy.objects.filter(status__in=OPEN_STATUSES).values_list("kind").annotate(n=Count("id")).order_by()
    )
    discrepancies = GaugeMetricFamily(
        "ecomarket_discrepancies_open", "Discrepancies open or acknowledged, by kind", labels=["kind"]
    )
    for kind in DiscrepancyKind.values:
        discrepancies.add_metric([kind], open_by_kind.get(kind, 0))
    result = [
        *families.values(),
        _database_bytes(),
        versions,
        discrepancies,
        GaugeMetricFamily(
            "ecomarket_oversell_cases_open",
            "Oversell cases not resolved yet",
            OversellCase.objects.exclude(status=OversellStatus.RESOLVED).count(),
        ),
    ]
    last = ReconciliationRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    if last is not None:
        result += [
            GaugeMetricFamily(
                "ecomarket_reconcile_duration_seconds",
                "How long the last finished reconciliation pass took",
                (last.finished_at - last.started_at).total_seconds(),
            ),
            GaugeMetricFamily(
                "ecomarket_reconcile_last_success_age_seconds",
                "Seconds since a reconciliation pass last finished",
                _age(last.finished_at, now),
            ),
        ]
    return result


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
