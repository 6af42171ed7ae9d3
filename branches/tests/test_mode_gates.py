"""One-mode services refuse to run in the other mode, checked at call time (``ecomarket.modes.only``): a branch
service called at central, or the other way round, fails loudly before it writes anything."""

import pytest

from branches import backup, change_apply, change_feed, credentials, ingest, outbox, pull, push, recovery, selectors
from branches import sync_status as status
from inventory import replay

BRANCH_ONLY = [
    outbox.outbox_event_append,
    outbox.outbox_customer_contacts_erase,
    outbox.outbox_delivered_prune,
    push.outbox_push,
    push.parked_events_retry,
    pull.changes_pull,
    change_apply.failed_changes_retry,
    status.sync_status,
    recovery.recovery_run,
    recovery.catalog_restore,
    recovery.feed_history_apply,
    backup.branch_backup_create,
    backup.branch_backup_restore,
    selectors.transfers_in_transit,
    selectors.recount_requests_open,
    replay.stock_event_replay,
]
CENTRAL_ONLY = [
    ingest.events_ingest,
    change_feed.change_append,
    change_feed.changes_page,
    change_feed.feed_applied_record,
    change_feed.product_save,
    change_feed.transfer_create,
    change_feed.resend_request_create,
    change_feed.change_failures_record,
    credentials.branch_register,
    credentials.branch_credential_revoke,
    selectors.branch_events_page,
    selectors.catalog_page,
]


@pytest.mark.mode("central")
@pytest.mark.parametrize("service", BRANCH_ONLY, ids=lambda service: service.__qualname__)
def test_a_branch_service_refuses_to_run_at_central(service):
    with pytest.raises(RuntimeError, match="runs only in branch mode, not in central mode"):
        service()


@pytest.mark.mode("branch")
@pytest.mark.parametrize("service", CENTRAL_ONLY, ids=lambda service: service.__qualname__)
def test_a_central_service_refuses_to_run_at_a_branch(service):
    with pytest.raises(RuntimeError, match="runs only in central mode, not in branch mode"):
        service()
