"""Branch side: the replica's pull, on beat every CHAIN_STOCK_PULL_INTERVAL_S."""

from celery import shared_task

from chain.pull import chain_replica_pull


@shared_task(ignore_result=True)
def chain_replica_pull_task() -> dict:
    """Bring the replica of the chain's stock up to head office's newest publication. Safe to run twice: a page
    commits with the cursor it moves to, and its figures are absolute."""
    return chain_replica_pull().__dict__
