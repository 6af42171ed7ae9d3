"""No request, however malformed, gets a 500: a body nested beyond reason and a pagination cursor the list did not
give out answer 400 with a code that says which."""

import base64
import json

import pytest

from branches.tests.factories import branch_client

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_a_body_nested_too_deep_is_400(manager_client, depth):
    response = manager_client.generic(
        "PUT", "/api/v1/products/FRU-PERA", _nested(depth), content_type="application/json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "too_deeply_nested")


def test_an_event_push_nested_too_deep_is_400(db):
    client, _ = branch_client("B001")
    payload: dict = {}
    for _ in range(40):
        payload = {"x": payload}
    event = {"id": "0b6f1c1e-0000-4000-8000-000000000001", "branch": "B001", "seq": 1, "payload": payload}
    body = json.dumps({"branch": "B001", "events": [event]})

    response = client.generic("POST", "/api/v1/sync/events", body, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (400, "too_deeply_nested")


@pytest.mark.parametrize("path", ["/api/v1/discrepancies", "/api/v1/oversell-cases", "/api/v1/inventory"])
@pytest.mark.parametrize(
    "cursor",
    [_cursor("p=abc"), _cursor("p=99999999999999999999999"), _cursor("o=x"), "not-a-cursor"],
    ids=["position not an id", "position beyond any id", "offset not a number", "not base64"],
)
def test_a_tampered_cursor_is_400(manager_client, path, cursor):
    response = manager_client.get(path, {"cursor": cursor})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


def test_a_cursor_the_list_gave_out_still_pages(manager_client):
    response = manager_client.get("/api/v1/discrepancies", {"cursor": _cursor("p=5")})

    assert (response.status_code, response.json()["results"]) == (200, [])
