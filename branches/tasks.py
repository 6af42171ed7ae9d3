"""Branch tasks: push the outbox, pull the change feed, snapshot stock. Each is safe to run twice: delivery is
idempotent at central, the pull cursor moves in the same transaction as the changes it applied, and a snapshot is
just one more event."""

from celery import shared_task

from branches import link
from branches.backup import branch_backup_create
from branches.models import RecoveryState
from inventory.services import stock_snapshot_record


@shared_task(ignore_result=True)
def outbox_push_task(force: bool = False) -> dict:
    """Push pending outbox events (one push at a time per branch; the others return at once), then pull the change
    feed if no pull ran for a while: sales keep push tasks coming, and they can hold beat's pull messages in the
    queue until those expire (link.pull_overdue). A pull is safe to run twice: its cursor moves with what it
    applied."""
    summary = link.outbox_push(force=force).__dict__
    if not summary["error"] and link.pull_overdue():
        summary["pull"] = link.changes_pull().__dict__
    return summary


@shared_task(ignore_result=True)
def changes_pull_task() -> dict:
    """Apply central's change feed from the stored cursor."""
    return link.changes_pull().__dict__


@shared_task(ignore_result=True)
def stock_snapshot_task() -> int | None:
    """Record a stock.snapshot event for reconciliation and push it. Not while the branch is recovering its history
    from central: its levels lack what is still being replayed, and central would take the difference for a
    count mismatch."""
    if link.sync_state().recovery_state != RecoveryState.IDLE:
        return None
    event = stock_snapshot_record()
    link.outbox_push()
    return event.seq


@shared_task(ignore_result=True)
def branch_backup_task() -> str:
    """Take the scheduled online backup. Safe to run twice: each run writes its own consistent copy, and only the
    newest BACKUP_KEEP are kept."""
    return str(branch_backup_create())


@shared_task(ignore_result=True)
def outbox_customer_contacts_erase_task() -> int:
    """Erase oversold customers' contacts from events delivered past CUSTOMER_CONTACT_RETENTION_DAYS. Safe to run
    twice: an erased contact is gone."""
    from branches.services import outbox_customer_contacts_erase

    return outbox_customer_contacts_erase()
