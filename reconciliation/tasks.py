from celery import shared_task

from reconciliation.services import reconcile


@shared_task(ignore_result=True)
def reconcile_task(full: bool = False) -> dict:
    """One reconciliation pass (central). Safe to run twice: a second pass over the same data changes nothing, and
    passes run one at a time (an incremental one started while another runs, e.g. a redelivery, ends at once)."""
    run = reconcile(full=full)
    return run.summary if run else {"skipped": "another pass was running"}


@shared_task(ignore_result=True)
def customer_contacts_erase_task() -> int:
    """Erase oversold customers' contacts past CUSTOMER_CONTACT_RETENTION_DAYS (central). Safe to run twice: an
    erased contact is gone, so the second run finds nothing to erase."""
    from reconciliation.contacts import customer_contacts_erase

    return customer_contacts_erase()
