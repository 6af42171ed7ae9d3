"""Each mode's periodic tasks, in one place: what runs, how often, with what (docs/architecture.md, "Operating a
chain": the periodic tasks find again whatever a lost broker message would have done).

Two readers. celery beat reads ``CELERY_BEAT_SCHEDULE``, which settings build from :func:`beat_schedule`: at a branch
every entry (celery's file-backed scheduler), at central the ones that stay in settings (django-celery-beat's
DatabaseScheduler copies them into its tables at start). ``manage.py install_schedule`` writes central's others into
django-celery-beat's tables, where an operator may edit them in the admin; it reads :func:`database_entries`.

Nothing here reads settings: the intervals are handed in (``conf``: the settings module while it loads, or
``django.conf.settings``), so the settings module can build beat's schedule from this one.
"""

from dataclasses import dataclass, field

from ecomarket.modes import Mode

DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class Entry:
    """One periodic task: ``every`` seconds, or daily at ``at`` (hour, minute) in TIME_ZONE. ``expires``: a message
    beat sent that waited longer is dropped, so a worker that was down does not wake up to a pile of identical
    sweeps. ``in_database``: written by ``install_schedule`` into django-celery-beat's tables (central)."""

    name: str
    task: str
    every: float | None = None
    at: tuple[int, int] | None = None
    kwargs: dict = field(default_factory=dict)
    expires: float | None = None
    in_database: bool = False


def entries(mode: Mode, conf) -> list[Entry]:
    """Every periodic task of ``mode``, with the intervals ``conf`` sets."""
    heartbeat = Entry(
        "heartbeat",
        "ecomarket.tasks.heartbeat_task",
        every=conf.HEARTBEAT_INTERVAL_S,
        expires=conf.HEARTBEAT_INTERVAL_S,
    )
    if mode == Mode.BRANCH:
        return [
            *(
                Entry(name, task, every=every, expires=every)
                for name, task, every in (
                    ("outbox-push-sweep", "branches.tasks.outbox_push_task", conf.SYNC_PUSH_SWEEP_S),
                    ("changes-pull", "branches.tasks.changes_pull_task", conf.SYNC_PULL_INTERVAL_S),
                    ("chain-stock-pull", "chain.tasks.chain_replica_pull_task", conf.CHAIN_STOCK_PULL_INTERVAL_S),
                    ("stock-snapshot", "branches.tasks.stock_snapshot_task", conf.STOCK_SNAPSHOT_INTERVAL_S),
                    ("branch-backup", "branches.tasks.branch_backup_task", conf.BACKUP_INTERVAL_S),
                )
            ),
            *(
                Entry(name, task, every=DAY_S, expires=3600)
                for name, task in (
                    ("customer-contacts-erase", "branches.tasks.outbox_customer_contacts_erase_task"),
                    ("outbox-prune", "branches.tasks.outbox_prune_task"),
                    ("housekeeping", "ecomarket.tasks.housekeeping_task"),
                )
            ),
            heartbeat,
        ]
    reconcile = "reconciliation.tasks.reconcile_task"
    return [
        Entry("reconcile (incremental)", reconcile, every=conf.RECONCILE_INTERVAL_S, in_database=True),
        Entry("reconcile (full, nightly)", reconcile, at=(3, 30), kwargs={"full": True}, in_database=True),
        Entry(
            "report roll-ups",
            "reports.tasks.report_rollup_task",
            every=conf.REPORTS_ROLLUP_INTERVAL_S,
            in_database=True,
        ),
        Entry(
            "chain stock totals",
            "inventory.tasks.chain_stock_fold_task",
            every=conf.CHAIN_STOCK_FOLD_INTERVAL_S,
            in_database=True,
        ),
        Entry(
            "customer contacts past retention",
            "reconciliation.tasks.customer_contacts_erase_task",
            at=(3, 45),
            in_database=True,
        ),
        Entry("housekeeping", "ecomarket.tasks.housekeeping_task", at=(4, 15), in_database=True),
        heartbeat,
    ]


def beat_schedule(mode: Mode, conf) -> dict[str, dict]:
    """``CELERY_BEAT_SCHEDULE``: the entries of ``mode`` that beat takes from settings, in celery's format."""
    return {
        entry.name: {"task": entry.task, "schedule": entry.every, "options": {"expires": entry.expires}}
        for entry in entries(mode, conf)
        if not entry.in_database
    }


def database_entries(conf) -> list[Entry]:
    """Central's entries that ``install_schedule`` writes into django-celery-beat's tables."""
    return [entry for entry in entries(Mode.CENTRAL, conf) if entry.in_database]
