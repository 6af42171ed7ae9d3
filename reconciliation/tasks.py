from celery import shared_task

from reconciliation.services import reconcile


@shared_task(ignore_result=True)
def reconcile_task(full: bool = False) -> dict:
    """One reconciliation pass (central). Safe to run twice: a second pass over the same data changes nothing, and
    passes run one at a time (an incremental one started while another runs, e.g. a redelivery, ends at once)."""
    run = reconcile(full=full)
    return run.summary if run else {"skipped": "another pass was running"}
