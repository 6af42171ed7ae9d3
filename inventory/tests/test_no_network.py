"""No request at a branch touches the network (docs/architecture.md, invariant 2): with every way of opening a socket
made to fail, every branch endpoint still answers."""

import socket

import pytest

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


class NetworkTouched(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkTouched(f"network use in a branch request: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_every_branch_endpoint_answers_without_the_network(
    shelf, cashier_client, manager_client, no_network, django_capture_on_commit_callbacks
):
    answers, hooks = [], []

    def call(client, method, path, body=None):
        # Each request's commit hooks run as they would in production (the test's transaction never commits):
        # the write asks for a push there, and the asking must not reach for the network either.
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
        answers.append((path, response.status_code))
        hooks.extend(callbacks)
        return response

    sale = call(cashier_client, "post", "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "2"}]}).json()
    call(cashier_client, "get", f"/api/v1/sales/{sale['id']}")
    call(
        cashier_client,
        "post",
        "/api/v1/returns",
        {"sale_id": sale["id"], "lines": [{"sku": "FRU-BANANA", "quantity": "1"}]},
    )
    other = call(cashier_client, "post", "/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}).json()
    call(manager_client, "post", f"/api/v1/sales/{other['id']}/void", {"reason": "test"})
    call(cashier_client, "post", "/api/v1/stock/receipts", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "6"}]})
    call(cashier_client, "post", "/api/v1/stock/counts", {"lines": [{"sku": "LAC-LECHE-1L", "counted": "11"}]})
    call(cashier_client, "get", "/api/v1/stock")
    call(cashier_client, "get", "/api/v1/stock/FRU-BANANA")
    call(cashier_client, "post", "/venta", {"producto": "FRU-BANANA", "cantidad": 1})
    call(cashier_client, "get", "/inventario")
    call(cashier_client, "get", "/healthz")

    assert no_network == []
    assert all(status < 300 for _, status in answers), answers
    assert hooks, "no write asked for a push: the hooks this test means to run never ran"


def test_the_guard_does_catch_network_use(no_network):
    with pytest.raises(NetworkTouched):
        socket.create_connection(("127.0.0.1", 9))
    assert len(no_network) == 1
