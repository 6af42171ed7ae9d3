"""The sync's state as /metrics reports it, read at scrape time (ecomarket/metrics.py, "What is"): at a branch its
outbox, push, pull, replay and backups; at central each branch's contact, lag, clock and release. Registered from
``BranchesConfig.ready()`` for the mode the process runs in."""

import math

from django.conf import settings
from django.db.models import Count, Min
from prometheus_client.core import GaugeMetricFamily

from branches.backup import branch_backup_offbox_taken_at, branch_backups, offbox_configured
from branches.models import Branch, FailedChange, OutboxEvent, OutboxState, ReplayFailure, SyncState
from ecomarket.metrics import age, state_reader_register

# A branch that sent no version header (a release older than the header) is counted under this label.
VERSION_UNKNOWN = "unknown"


def metrics_register() -> None:
    if settings.IS_BRANCH:
        state_reader_register(outbox_state)
        state_reader_register(backup_age, database=False)
    else:
        state_reader_register(branches_state)


def outbox_state(now) -> list:
    """The branch's outbox, its push and pull, and what its replay after a restore could not apply."""
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
            age(pending["oldest"], now) if pending["oldest"] else 0,
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
    families += [GaugeMetricFamily(name, text, age(moment, now)) for name, text, moment in ages if moment]
    families.append(
        GaugeMetricFamily(
            "ecomarket_changes_failed", "Change-feed items this branch could not apply", FailedChange.objects.count()
        )
    )
    return families


def backup_age(now) -> list:
    """The newest backup's age, and the newest one copied off the box, in seconds: +Inf when there is none, so the
    alert fires on a box that never took one as on one whose backups stopped. The off-box age only where a copy is
    configured; ``backup_offbox_configured`` tells the boxes that keep their backups on their own disk alone."""
    try:
        backups = branch_backups()
        newest = backups[-1].stat().st_mtime if backups else None
    except OSError:
        newest = None
    now_s = now.timestamp()
    families = [
        GaugeMetricFamily(
            "ecomarket_backup_age_seconds",
            "Seconds since the newest backup was taken (+Inf: none in BACKUP_DIR)",
            now_s - newest if newest is not None else math.inf,
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
                now_s - copied if copied is not None else math.inf,
            )
        )
    return families


def branches_state(now) -> list:
    """Central: each branch's last contact, how far behind it is, its clock and its release."""
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
            families["ecomarket_branch_last_seen_age_seconds"].add_metric(code, age(branch.last_seen_at, now))
        families["ecomarket_branch_high_water_seq"].add_metric(code, branch.high_water_seq)
        families["ecomarket_branch_lag_events"].add_metric(code, branch.lag)
        if branch.pending_reported is not None:
            families["ecomarket_branch_pending_reported"].add_metric(code, branch.pending_reported)
        if branch.clock_skew_s is not None:
            families["ecomarket_branch_clock_skew_seconds"].add_metric(code, branch.clock_skew_s)
    return [*families.values(), versions]
