"""Central only: the branches behind at the end of each reconciliation pass, kept for the dashboard's lag chart."""

from ecomarket.modes import Mode, only
from reconciliation.models import BranchLag, ReconciliationRun


@only(Mode.CENTRAL)
def branch_lags_record(*, run: ReconciliationRun) -> int:
    """Keep a row per branch the finished ``run`` found behind (its ``lag`` says so); returns how many. Called once
    at the end of each pass; safe to call twice (one row per run and branch)."""
    rows = [
        BranchLag(run=run, branch_id=code, events=lag["events"])
        for code, lag in run.lag.items()
        if lag.get("events", 0) > 0
    ]
    BranchLag.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
