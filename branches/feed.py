"""Moved to branches/change_feed.py. These names stay importable from here only for the modules another change is
rewriting (reconciliation/services.py, reconciliation/tests/test_concurrency.py); delete this file once they import
from branches.change_feed."""

from branches.change_feed import (  # noqa: F401
    branches_lock,
    change_append,
    feed_lines_check,
    resend_request_create,
    transfer_create,
)
