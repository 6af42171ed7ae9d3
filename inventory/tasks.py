from celery import shared_task

from inventory.ledger import chain_stock_fold


@shared_task(ignore_result=True)
def chain_stock_fold_task() -> int:
    """Fold the chain's stock changes into the per-SKU totals (central). Safe to run twice or concurrently: each
    step deletes the changes it adds in the same transaction, under the totals' lock."""
    return chain_stock_fold()
