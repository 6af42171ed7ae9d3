"""Test-suite wiring shared by every app.

The suite runs once per mode (``make test`` runs both): a test marked ``@pytest.mark.mode("central")`` is
deselected in the branch run and the other way round; unmarked tests run in both.
"""

import os
import shutil

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ecomarket.roles import Role, staff_user_create

_redis = None


def pytest_configure(config):
    """The run's own Redis server (harness/redis_server.py): every Celery and whole-chain test reads its broker from
    ``TEST_REDIS_URL``, so two runs on one machine never flush each other's queues. No Redis, no run: a missing
    service fails loudly, it never skips a test."""
    global _redis
    if shutil.which("redis-server") is None and not os.path.exists("/usr/bin/redis-server"):
        pytest.exit("redis-server is required by the Celery and whole-chain tests and is not installed", returncode=3)
    from harness.redis_server import RedisServer

    _redis = RedisServer().start()
    os.environ["TEST_REDIS_URL"] = _redis.url(15)


def pytest_unconfigure(config):
    if _redis is not None:
        _redis.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A PostgreSQL test database named for this run (``test_<name>_<pid>``), so two central runs against one
    server never drop each other's database. SQLite's test file already lies in the run's own DATA_DIR."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "ecomarket.sqlite":
        database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_{os.getpid()}"


def pytest_sessionstart(session):
    """Each test run's process leaves its metric files in DATA_DIR/metrics, as gunicorn's workers do: drop those
    of runs that are over, so /metrics in the tests reads only what is current (ecomarket/metrics.py)."""
    from ecomarket import metrics

    metrics.multiprocess_files_prune(settings.METRICS_DIR)


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
