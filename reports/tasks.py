from celery import shared_task

from reports.services import report_rollup_refresh


@shared_task(ignore_result=True)
def report_rollup_task() -> int:
    """Fold new branch events into the report roll-ups (central). Safe to run twice or concurrently: each chunk
    moves its branch's cursor in the transaction that adds its rows, under the cursor's row lock."""
    return report_rollup_refresh()
