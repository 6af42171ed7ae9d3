"""Central side: appending to the change feed, the one write every feed source makes (the catalog, transfers,
resend requests, scheduled prices and promotions), apart from branches/change_feed.py so that a source the feed
itself calls (pricing/services.py) can write to it without an import cycle."""

from django.db import connection

from branches.models import Branch, Change
from ecomarket.modes import Mode, only


@only(Mode.CENTRAL)
def change_append(*, kind: str, payload: dict, branch: Branch | None = None) -> Change:
    """Append one change in the caller's transaction.

    Feed ids are the branches' cursor, so they must become visible in id order: a branch that has read id 10 must
    never later find an id 9 committed behind it. Appends are therefore serialised with a table lock (they are
    rare: catalog edits, transfers, resend requests); readers are not blocked. SQLite serialises writers anyway.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("change_append must run inside the transaction of the change it announces")
    if branch is not None:
        branches_lock(branch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Change._meta.db_table} IN EXCLUSIVE MODE")
    return Change.objects.create(kind=kind, payload=payload, branch=branch)


def branches_lock(*branches: Branch) -> None:
    """Lock these branches' rows, in code order, in the caller's transaction. Every writer takes a branch's row
    before the change feed's table lock (the lock order of reconciliation/services.py). Without this, the
    feed row's foreign key would take its lock on the branch row only at commit (Django's foreign keys are
    deferred), after the table lock: a cycle with an ingest or a reconciliation pass that holds the branch and
    waits for the feed."""
    codes = sorted({branch.pk for branch in branches})
    list(Branch.objects.select_for_update().filter(pk__in=codes).order_by("code").values_list("pk"))
