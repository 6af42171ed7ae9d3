"""Moved to branches/outbox.py. These names stay importable from here only for the modules another change is
rewriting (inventory/services.py, inventory/tests/test_sale_customer.py); delete this file once they import from
branches.outbox."""

from branches.outbox import outbox_customer_contacts_erase, outbox_event_append  # noqa: F401
