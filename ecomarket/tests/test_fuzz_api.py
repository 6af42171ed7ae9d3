"""Fuzzing both modes' APIs from their own OpenAPI schemas (schemathesis, bounded examples): no server error, and
every response matches the schema."""

import os

import pytest
import schemathesis
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from ecomarket.roles import Role, staff_user_create
from ecomarket.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # bounded; `FUZZ_EXAMPLES=500 make test` digs deeper


@pytest.fixture
def in_process_wsgi():
    """Calls go through the real WSGI app; like Django's test client, keep it from closing the test's
    database connection at the end of each request."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(db, in_process_wsgi):
    from inventory.demo import demo_catalog_load

    demo_catalog_load()
    headers = {}
    if settings.IS_BRANCH:
        from inventory.demo import demo_stock_receive

        demo_stock_receive(branch=settings.BRANCH_CODE)
        _, token = staff_user_create(username="fuzz", role=Role.MANAGER)
        headers["Authorization"] = f"Token {token}"
    else:
        from branches.credentials import branch_register

        _, token = staff_user_create(username="fuzz", role=Role.MANAGER)
        headers["Authorization"] = f"Token {token}"
        headers["branch"] = f"Branch {branch_register(code='B001')[1]}"
    return headers


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_never_errors_and_matches_its_schema(case, auth_headers):
    # Business refusals of schema-valid input (an unknown SKU, too little stock) are correct 4xx answers here, so
    # "positive data acceptance" is not a check; what must hold is: no 5xx, documented status codes and content
    # types, and bodies that match the schema.
    branch_only = case.path.startswith("/api/v1/sync/") and "branch" in auth_headers
    case.call_and_validate(
        headers={"Authorization": auth_headers["branch" if branch_only else "Authorization"]},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
