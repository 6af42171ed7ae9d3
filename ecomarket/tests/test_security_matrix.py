"""Every endpoint x every kind of caller -> the intended status (docs/architecture.md, invariant 5).

Callers: anonymous, a cashier's token, a manager's token, the right branch's credential, another branch's
credential, a revoked credential. A branch server knows no branch credentials at all (they are central's).
"""

import logging
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from ecomarket.roles import Role, staff_user_create

CALLERS = ["anonymous", "cashier", "manager", "branch", "other_branch", "revoked"]


def event(branch: str = "B001", seq: int = 1) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "branch": branch,
        "seq": seq,
        "type": "stock.received",
        "occurred_at": datetime.now(UTC).isoformat(),
        "schema": 1,
        "payload": {"transfer_id": None, "lines": [{"sku": "FRU-BANANA", "quantity": "1.000"}]},
    }


@pytest.fixture
def callers(db) -> dict[str, APIClient]:
    from django.conf import settings

    clients = {name: APIClient() for name in CALLERS}
    for name, role in (("cashier", Role.CASHIER), ("manager", Role.MANAGER)):
        _, token = staff_user_create(username=f"{name}-matrix", role=role)
        clients[name].credentials(HTTP_AUTHORIZATION=f"Token {token}")
    credentials = {"branch": "ecb_not-issued-here", "other_branch": "ecb_other", "revoked": "ecb_revoked"}
    if settings.IS_CENTRAL:
        from branches.credentials import branch_credential_revoke, branch_register

        credentials["branch"] = branch_register(code="B001")[1]
        credentials["other_branch"] = branch_register(code="B002")[1]
        credentials["revoked"] = branch_register(code="B003")[1]
        branch_credential_revoke(code="B003")
    for name, credential in credentials.items():
        clients[name].credentials(HTTP_AUTHORIZATION=f"Branch {credential}")
    return clients


def _expect(row: dict, caller: str) -> int:
    return row.get(caller, row["default"])


# --------------------------------------------------------------------------------------------------------------
# Branch mode
# --------------------------------------------------------------------------------------------------------------

SALE = {"lines": [{"sku": "FRU-BANANA", "quantity": "1"}]}
BRANCH_MATRIX = [
    # method, path, body, {caller: status} (default: what everyone else gets)
    ("get", "/api/v1/stock", None, {"cashier": 200, "manager": 200, "default": 401}),
    ("get", "/api/v1/stock/FRU-BANANA", None, {"cashier": 200, "manager": 200, "default": 401}),
    ("post", "/api/v1/sales", SALE, {"cashier": 201, "manager": 201, "default": 401}),
    ("get", f"/api/v1/sales/{uuid.UUID(int=1)}", None, {"cashier": 404, "manager": 404, "default": 401}),
    ("post", f"/api/v1/sales/{uuid.UUID(int=1)}/void", {}, {"cashier": 403, "manager": 404, "default": 401}),
    (
        "post",
        "/api/v1/returns",
        {"sale_id": str(uuid.UUID(int=1)), "lines": SALE["lines"]},
        {"cashier": 400, "manager": 400, "default": 401},
    ),
    ("post", "/api/v1/stock/receipts", SALE, {"cashier": 201, "manager": 201, "default": 401}),
    (
        "post",
        "/api/v1/stock/counts",
        {"lines": [{"sku": "FRU-BANANA", "counted": "3"}]},
        {"cashier": 201, "manager": 201, "default": 401},
    ),
    ("get", "/api/v1/sync/status", None, {"cashier": 200, "manager": 200, "default": 401}),
    ("post", "/venta", {"producto": "FRU-BANANA", "cantidad": 1}, {"cashier": 200, "manager": 200, "default": 401}),
    ("get", "/inventario", None, {"cashier": 200, "manager": 200, "default": 401}),
    ("get", "/healthz", None, {"default": 200}),
    ("get", "/api/schema/", None, {"default": 200}),
    # central's routes do not exist here, whoever asks
    ("post", "/api/v1/sync/events", {"branch": "B001", "events": [event()]}, {"default": 404}),
    ("get", "/api/v1/sync/events", None, {"default": 404}),
    ("get", "/api/v1/sync/catalog", None, {"default": 404}),
    ("get", "/api/v1/discrepancies", None, {"default": 404}),
    ("get", "/dashboard/", None, {"default": 404}),
    ("get", "/api/v1/reports/sales", None, {"default": 404}),
    ("get", "/reports/", None, {"default": 404}),
]


@pytest.mark.mode("branch")
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method, path, body, expected", BRANCH_MATRIX, ids=[f"{m} {p}" for m, p, *_ in BRANCH_MATRIX])
def test_branch_endpoint_answers_each_caller_as_intended(shelf, callers, caller, method, path, body, expected):
    client = callers[caller]
    response = getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)

    assert response.status_code == _expect(expected, caller), response.content[:300]


# --------------------------------------------------------------------------------------------------------------
# Central mode
# --------------------------------------------------------------------------------------------------------------

MANAGER_ONLY = {"manager": 200, "cashier": 403, "default": 401}
CENTRAL_MATRIX = [
    (
        "post",
        "/api/v1/sync/events",
        {"branch": "B001", "events": [event()]},
        {"branch": 200, "other_branch": 403, "default": 401},
    ),
    ("get", "/api/v1/sync/changes", None, {"branch": 200, "other_branch": 200, "default": 401}),
    # a branch reads back only its own events (the credential names the branch; there is no branch parameter)
    ("get", "/api/v1/sync/events", None, {"branch": 200, "other_branch": 200, "default": 401}),
    ("get", "/api/v1/sync/catalog", None, {"branch": 200, "other_branch": 200, "default": 401}),
    ("get", "/api/v1/inventory", None, MANAGER_ONLY),
    ("get", "/api/v1/inventory/totals", None, MANAGER_ONLY),
    ("get", "/inventario-global", None, MANAGER_ONLY),
    ("get", "/api/v1/discrepancies", None, MANAGER_ONLY),
    ("patch", "/api/v1/discrepancies/999", {"action": "acknowledge"}, {**MANAGER_ONLY, "manager": 404}),
    ("get", "/api/v1/oversell-cases", None, MANAGER_ONLY),
    ("patch", "/api/v1/oversell-cases/999", {"action": "contact"}, {**MANAGER_ONLY, "manager": 404}),
    ("put", "/api/v1/products/FRU-BANANA", {"price": "2.00"}, MANAGER_ONLY),
    *(("get", f"/api/v1/reports/{name}", None, MANAGER_ONLY) for name in ("sales", "products", "returns-voids")),
    *(("get", f"/api/v1/reports/{name}", None, MANAGER_ONLY) for name in ("stock", "sync")),
    ("post", "/api/v1/transfers", {"to_branch": "B001", "lines": SALE["lines"]}, {**MANAGER_ONLY, "manager": 201}),
    ("get", "/healthz", None, {"default": 200}),
    # the branch's routes do not exist here
    ("post", "/api/v1/sales", SALE, {"default": 404}),
    ("get", "/api/v1/stock", None, {"default": 404}),
    ("post", "/venta", {"producto": "x", "cantidad": 1}, {"default": 404}),
]


@pytest.fixture
def catalog(db):
    from inventory.models import Unit
    from inventory.tests.factories import product_make

    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)


@pytest.mark.mode("central")
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "method, path, body, expected", CENTRAL_MATRIX, ids=[f"{m} {p}" for m, p, *_ in CENTRAL_MATRIX]
)
def test_central_endpoint_answers_each_caller_as_intended(catalog, callers, caller, method, path, body, expected):
    client = callers[caller]
    response = getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)

    assert response.status_code == _expect(expected, caller), response.content[:300]


@pytest.mark.mode("central")
@pytest.mark.parametrize(
    "caller, status", [("anonymous", 302), ("cashier", 403), ("manager", 200)], ids=["anonymous", "cashier", "manager"]
)
def test_dashboard_and_admin_need_a_staff_login(db, caller, status):
    client = Client()
    if caller != "anonymous":
        user, _ = staff_user_create(username=caller, role=Role(caller))
        client.force_login(user)

    assert client.get("/dashboard/").status_code == status
    assert client.get("/admin/").status_code == {"anonymous": 302, "cashier": 302, "manager": 200}[caller]


# --------------------------------------------------------------------------------------------------------------
# Both modes
# --------------------------------------------------------------------------------------------------------------


@override_settings(AUTH_FAILURE_LIMIT=5)
def test_repeated_authentication_failures_are_throttled(db):
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token guessing-0000")
    path = "/api/v1/stock" if _is_branch() else "/api/v1/inventory"

    statuses = [bad.get(path).status_code for _ in range(7)]

    assert statuses == [401] * 5 + [429] * 2
    assert bad.get(path)["Retry-After"]


def test_credentials_never_reach_the_logs(db, caplog):
    """Neither the plain messages nor the JSON lines operators search (ecomarket/logs.py, with the request id, the
    user and every other field) carry a token or a credential, right or wrong."""
    import io
    import json

    from django.conf import settings

    from ecomarket.logs import ContextFilter, JsonFormatter

    staff = staff_user_create(username="logcheck", role=Role.MANAGER)[1]
    secrets = [staff, "ecb_wrong-credential-value", "Token-wrong-value", "metrics-scrape-secret"]
    caplog.set_level(logging.DEBUG)
    lines = io.StringIO()
    json_handler = logging.StreamHandler(lines)
    json_handler.setFormatter(JsonFormatter())
    json_handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(json_handler)
    try:
        with override_settings(METRICS_TOKEN="metrics-scrape-secret"):
            for header in (f"Token {staff}", "Branch ecb_wrong-credential-value", "Token Token-wrong-value"):
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=header)
                client.get("/api/v1/stock" if settings.IS_BRANCH else "/api/v1/inventory")
                client.post("/api/v1/sync/events", {"branch": "B001", "events": []}, format="json")
                client.get("/metrics")
            Client(HTTP_AUTHORIZATION="Bearer metrics-scrape-secret").get("/metrics")
            # a token put in the URL by mistake: refused (401), and its value kept out of the JSON line's request
            APIClient().get("/api/v1/stock" if settings.IS_BRANCH else "/api/v1/inventory", {"token": staff})
    finally:
        logging.getLogger().removeHandler(json_handler)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # something was logged (the 401s), and none of it is a credential
    assert not any(secret in logged for secret in secrets)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert records
    assert not any(secret in line for secret in secrets for line in lines.getvalue().splitlines())
    refusals = [record for record in records if record["logger"] == "django.request"]
    assert refusals and all(record["request_id"] and record["mode"] for record in refusals)


@pytest.mark.mode("central")
@pytest.mark.parametrize(
    "path",
    ["/dashboard/", "/dashboard/discrepancies.csv", "/api/v1/oversell-cases", "/reports/", "/reports/sales.csv"],
)
def test_head_office_pages_csvs_and_answers_with_customer_data_are_never_stored_by_a_cache(db, path):
    """The dashboard and the oversell cases show the contacts of customers sold goods the branch did not have; no
    browser disk cache or proxy on the way may keep a copy."""
    user, _ = staff_user_create(username="private-pages", role=Role.MANAGER)
    client = Client()
    client.force_login(user)

    response = client.get(path)

    assert response.status_code == 200, path
    assert {"no-store", "private"} <= {part.strip() for part in response["Cache-Control"].split(",")}


@pytest.mark.mode("branch")
@pytest.mark.parametrize("path", ["/pos/", "/sales/", "/stock/", "/api/v1/sync/status"])
def test_store_pages_and_answers_are_never_stored_by_a_cache(cashier, path):
    client = Client()
    client.force_login(cashier)

    response = client.get(path)

    assert response.status_code == 200, path
    assert response["Cache-Control"] == "no-store, private"


def test_static_files_keep_their_cache_lifetime(db):
    response = Client().get("/static/ecomarket/app.css")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_a_credential_in_a_query_string_is_not_written_to_the_access_log():
    """gunicorn logs the request line; a client that put its token in the URL must not leave it there. The other
    parameters stay: they are what an operator searches by."""
    from gunicorn.glogging import SafeAtoms

    from ecomarket.logs import AccessLogFilter

    line = "GET /api/v1/stock?search=MANZ&token=tok-secret-1&api_key=key-secret-2 HTTP/1.1"
    atoms = SafeAtoms({"r": line, "q": line.split("?", 1)[1].split(" ")[0], "U": "/api/v1/stock", "s": "200"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s %(q)s', (), None)
    record.args = atoms

    AccessLogFilter().filter(record)

    message = record.getMessage()
    assert "tok-secret-1" not in message and "key-secret-2" not in message
    assert "search=MANZ" in message and "token=[redacted]" in message
    assert record.path == "/api/v1/stock"


def test_web_pages_carry_security_headers(db):
    response = Client().get("/admin/login/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_debug_is_off_unless_asked_for():
    from django.conf import settings

    assert settings.DEBUG is False


def _is_branch() -> bool:
    from django.conf import settings

    return settings.IS_BRANCH
