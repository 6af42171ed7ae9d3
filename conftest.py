"""Test-suite wiring shared by every app.

The suite runs once per mode (``make test`` runs both): a test marked ``@pytest.mark.mode("central")`` is
deselected in the branch run and the other way round; unmarked tests run in both.
"""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ecomarket.roles import Role, staff_user_create


def pytest_ignore_collect(collection_path, config):
    """reconciliation/ and reports/ are central only: their models are not even installed in a branch."""
    if settings.IS_BRANCH and {"reconciliation", "reports"} & set(collection_path.parts):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    here = settings.ECOMARKET_MODE.value
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("mode")
        (drop if marker and marker.args[0] != here else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The auth-failure counter lives in the cache: each test starts with a clean slate."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _staff(username: str, role: Role):
    user, token = staff_user_create(username=username, role=role)
    user.token = token  # the plain token exists only here, at issue time
    return user


@pytest.fixture
def cashier(db):
    return _staff("carla", Role.CASHIER)


@pytest.fixture
def manager(db):
    return _staff("mario", Role.MANAGER)


@pytest.fixture
def cashier_client(cashier):
    return _client(cashier.token)


@pytest.fixture
def manager_client(manager):
    return _client(manager.token)


@pytest.fixture
def anonymous_client():
    return _client(None)


@pytest.fixture
def shelf(db):
    """A small shelf at this branch (branch mode): bananas by weight, milk by the unit."""
    from inventory.models import Unit
    from inventory.tests.factories import product_make, stock_receive

    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, price="1.80", barcode="4011", name="Banana")
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, price="1.25", barcode="7790742023001", name="Leche entera 1 L")
    stock_receive(**{"FRU-BANANA": "10.000", "LAC-LECHE-1L": "5"})
