"""Head office's /metrics gives its database's size on disk (a branch gives its SQLite files')."""

import pytest
from django.test import override_settings

from ecomarket.tests.test_metrics import scrape, value

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@override_settings(METRICS_ALLOW_FROM=["127.0.0.1/32"], METRICS_TOKEN="")
def test_central_exports_its_database_size():
    assert value(scrape(), "ecomarket_database_bytes") > 0
