"""Branch side: the tasks that push the outbox, pull the change feed, snapshot stock. Each is safe to run twice:
delivery is idempotent at central, the pull cursor moves in the same transaction as the changes it applied, and a
snapshot is just one more event.

Their registered names (``branches.tasks.<function>``) are in every deployed beat schedule, and the outbox
publishes the push by its name (branches/outbox.py PUSH_TASK): keep them. Nothing imports this module but Celery's
autodiscovery (and tests)."""

import logging

from celery import shared_task

from branches.backup import BackupError, branch_backup_create, branch_backup_offbox
from branches.models import RecoveryState
from branches.outbox import PUSH_TASK, outbox_customer_contacts_erase, outbox_delivered_prune
from branches.pull import changes_pull, pull_overdue
from branches.push import outbox_push
from branches.sync_status import sync_state
from inventory.services import stock_snapshot_record

log = logging.getLogger(__name__)


@shared_task(name=PUSH_TASK, ignore_result=True)
def outbox_push_task(force: bool = False) -> dict:
    """Push pending outbox events (one push at a time per branch; the others return at once), then pull the change
    feed if no pull ran for a while: sales keep push tasks coming, and they can hold beat's pull messages in the
    queue until those expire (branches/pull.py pull_overdue). A pull is safe to run twice: its cursor moves with
    what it applied."""
    summary = outbox_push(force=force).__dict__
    if not summary["error"] and pull_overdue():
        summary["pull"] = changes_pull().__dict__
    return summary


@shared_task(ignore_result=True)
def changes_pull_task() -> dict:
    """Apply central's change feed from the stored cursor."""
    return changes_pull().__dict__


@shared_task(ignore_result=True)
def stock_snapshot_task() -> int | None:
    """Record a stock.snapshot event for reconciliation and push it. Not while the branch is recovering its history
    from central: its levels lack what is still being replayed, and central would take the difference for a
    count mismatch."""
    if sync_state().recovery_state != RecoveryState.IDLE:
        return None
    parts = stock_snapshot_record()
    outbox_push()
    return parts[-1].seq


@shared_task(ignore_result=True)
def branch_backup_task() -> str:
    """Take the scheduled online backup and copy it off the box (BACKUP_COPY_TO, BACKUP_COPY_COMMAND). Safe to run
    twice: each run writes its own consistent copy, and only the newest BACKUP_KEEP are kept. A failed copy is
    logged and leaves the backup in place; its age in /metrics tells."""
    backup = branch_backup_create()
    try:
        branch_backup_offbox(backup=backup)
    except BackupError as error:
        log.error("backup %s not copied off the box: %s", backup.name, error)
    return str(backup)


@shared_task(ignore_result=True)
def outbox_customer_contacts_erase_task() -> int:
    """Erase oversold customers' contacts from events delivered past CUSTOMER_CONTACT_RETENTION_DAYS. Safe to run
    twice: an erased contact is gone."""
    return outbox_customer_contacts_erase()


@shared_task(ignore_result=True)
def outbox_prune_task() -> int:
    """Delete delivered events past OUTBOX_RETENTION_DAYS that central holds for good (branches/outbox.py). Safe to
    run twice: a second run finds nothing more to delete, and it never touches what is pending or parked."""
    return outbox_delivered_prune()
