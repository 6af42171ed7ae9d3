from celery import shared_task

from reconciliation.services import reconcile


@shared_task(ignore_result=True)
def reconcile_task(full: bool = False) -> dict:
    """One reconciliation pass (central). Safe to run twice: a second pass over the same data changes nothing;
    each branch is checked under its row lock, so two overlapping passes serialise per branch."""
    return reconcile(full=full).summary
