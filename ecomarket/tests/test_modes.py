import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecomarket.modes import Mode, mode_parse
from harness.processes import ROOT


@pytest.mark.parametrize(
    "value, mode", [("branch", Mode.BRANCH), ("central", Mode.CENTRAL), (" Central ", Mode.CENTRAL)]
)
def test_mode_is_read_from_its_name(value, mode):
    assert mode_parse(value) == mode


@pytest.mark.parametrize("value", ["", None, "both", "store", "centrale"])
def test_any_other_mode_is_refused_with_a_clear_message(value):
    with pytest.raises(ImproperlyConfigured, match="ECOMARKET_MODE must be 'branch' or 'central'"):
        mode_parse(value)


def test_a_server_with_an_unknown_mode_refuses_to_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ECOMARKET_MODE": "shop", "SECRET_KEY": "x", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ECOMARKET_MODE must be 'branch' or 'central', got 'shop'" in result.stderr


def test_a_server_without_secret_key_refuses_to_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ECOMARKET_MODE": "branch", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


CENTRAL_ONLY = ["/api/v1/inventory", "/api/v1/inventory/totals", "/inventario-global"]
BRANCH_ONLY = ["/api/v1/sales", "/api/v1/stock", "/api/v1/stock/FRU-BANANA", "/venta", "/inventario"]


@pytest.mark.mode("branch")
@pytest.mark.parametrize("path", CENTRAL_ONLY)
def test_central_routes_do_not_exist_at_a_branch(manager_client, path):
    response = manager_client.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.mode("central")
@pytest.mark.parametrize("path", BRANCH_ONLY)
def test_branch_routes_do_not_exist_at_central(manager_client, path):
    response = manager_client.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
