"""A store box restored from its backup, or rebuilt from nothing, gets its drawer back from the events central holds
(branches/recovery.py replays each one, cash/replay.py the drawer's part): its sessions as they were (an open one
still open), their movements, how each sale was paid and each return or void paid back, every close with its Z;
the next Z number follows the last one central holds, and nothing is counted twice."""

from decimal import Decimal

import pytest

from branches.models import OutboxEvent, RecoveryState, SyncState
from branches.recovery import _chunk_replay
from cash.models import CashMovement, CashSession, Refund, Register, SaleTender
from inventory.models import Return, ReturnLine, Sale, SaleLine, StockDocument, StockLevel, StockMovement

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def _ok(answer):
    assert answer.status_code in (200, 201), answer.content
    return answer.json()


@pytest.fixture
def day(shelf, cashier_client, manager_client):
    """A day's drawer work at two tills, and the seq of the last event the backup holds (taken mid-day, with T1's
    first session open and one sale rung up on it)."""
    for code in ("T1", "T2"):
        _ok(manager_client.post("/api/v1/registers", {"code": code, "name": f"Caja {code}"}, format="json"))

    def open_(register, opening_float):
        body = {"register": register, "opening_float": opening_float}
        return _ok(cashier_client.post("/api/v1/cash-sessions", body, format="json"))

    def sell(register, lines, payments):
        body = {"lines": [{"sku": s, "quantity": q} for s, q in lines], "register": register, "payments": payments}
        return _ok(cashier_client.post("/api/v1/sales", body, format="json"))

    def close(session, counted):
        url = f"/api/v1/cash-sessions/{session['id']}/close"
        return _ok(cashier_client.post(url, {"counted": {"cash": counted}}, format="json"))

    t1 = open_("T1", "100.00")
    t2 = open_("T2", "50.00")
    sell("T1", [("LAC-LECHE-1L", "2")], [{"method": "cash", "amount": "10.00"}])
    backup_seq = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    split = sell(
        "T1",
        [("FRU-BANANA", "1.000"), ("LAC-LECHE-1L", "1")],
        [{"method": "card", "amount": "2.00"}, {"method": "cash", "amount": "2.00"}],
    )
    movement = {"kind": "out", "amount": "50.00", "reason": "pickup to the safe"}
    _ok(cashier_client.post(f"/api/v1/cash-sessions/{t1['id']}/movements", movement, format="json"))
    ret = {"sale_id": split["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], "register": "T1"}
    _ok(cashier_client.post("/api/v1/returns", ret, format="json"))
    voided = sell("T2", [("LAC-LECHE-1L", "1")], [{"method": "cash", "amount": "1.25"}])
    _ok(manager_client.post(f"/api/v1/sales/{voided['id']}/void", {"reason": "wrong", "register": "T2"}, format="json"))
    sell("T2", [("FRU-BANANA", "2.000")], [{"method": "cash", "amount": "5.00"}])
    close(t1, _ok(cashier_client.get(f"/api/v1/cash-sessions/{t1['id']}/report"))["expected_cash"])
    close(t2, str(Decimal(_ok(cashier_client.get(f"/api/v1/cash-sessions/{t2['id']}/report"))["expected_cash"]) - 1))
    t1_again = open_("T1", "80.00")
    sell("T1", [("FRU-BANANA", "1.500")], [{"method": "card", "amount": "2.70"}])
    _ok(
        cashier_client.post(
            f"/api/v1/cash-sessions/{t1_again['id']}/movements", {"kind": "in", "amount": "10.00"}, format="json"
        )
    )
    return {"backup_seq": backup_seq, "open": t1_again["id"]}


def drawer() -> dict:
    """Everything the drawer holds, as rows (a movement's recorder and a refund's clock are the box's own: the
    events do not carry them)."""
    return {
        "registers": sorted(Register.objects.values_list("code", "last_z_number")),
        "sessions": sorted(
            CashSession.objects.values_list(
                "id",
                "register",
                "status",
                "opening_float",
                "opened_by",
                "opened_at",
                "open_seq",
                "fingerprint",
                "closed_at",
                "closed_by",
                "approved_by",
                "z_number",
                "counted_cash",
                "close_fingerprint",
                "z_report",
            )
        ),
        "movements": sorted(
            CashMovement.objects.values_list("id", "session", "kind", "amount", "reason", "created_at", "fingerprint")
        ),
        "tenders": sorted(SaleTender.objects.values_list("sale", "register", "session", "payments", "change")),
        "refunds": sorted(Refund.objects.values_list("id", "kind", "sale", "register", "session", "payments")),
    }


def as_central_serves(event: OutboxEvent) -> dict:
    return {
        "id": str(event.id),
        "branch": "B001",
        "seq": event.seq,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "schema": event.schema,
        "payload": event.payload,
    }


def box_lost() -> list[dict]:
    """The box's disk dies: every document, ledger row and event gone (the catalog, the staff and the registers
    come back with the backup's or central's); what central holds of it is returned."""
    events = [as_central_serves(event) for event in OutboxEvent.objects.order_by("seq")]
    for model in (Refund, SaleTender, CashMovement, CashSession, ReturnLine, Return, SaleLine, Sale, StockDocument):
        model.objects.all().delete()
    for model in (StockMovement, StockLevel, OutboxEvent):
        model.objects.all().delete()
    Register.objects.update(last_z_number=0)
    return events


def restored_from(events: list[dict], *, backup_seq: int) -> None:
    """The backup held every event up to ``backup_seq``; the recovery replays the rest from central."""
    SyncState.objects.update_or_create(pk=1, defaults={"recovery_state": RecoveryState.IDLE})
    for chunk in ([e for e in events if e["seq"] <= backup_seq], [e for e in events if e["seq"] > backup_seq]):
        if chunk:
            _chunk_replay(chunk)
        SyncState.objects.filter(pk=1).update(recovery_state=RecoveryState.RECOVERING)
    SyncState.objects.filter(pk=1).update(recovery_state=RecoveryState.IDLE)


def test_a_box_restored_from_its_backup_gets_back_every_session_movement_payment_and_close(day):
    before = drawer()

    restored_from(box_lost(), backup_seq=day["backup_seq"])

    assert drawer() == before


def test_after_the_restore_the_open_session_goes_on_and_the_next_z_follows_centrals(day, cashier_client):
    report = f"/api/v1/cash-sessions/{day['open']}/report"
    x_before = _ok(cashier_client.get(report))

    restored_from(box_lost(), backup_seq=day["backup_seq"])

    assert _ok(cashier_client.get(report)) == x_before, "the X report counts each sale and movement once"
    sale = {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}], "register": "T1", "payment_method": "cash"}
    sold = _ok(cashier_client.post("/api/v1/sales", sale, format="json"))
    assert str(SaleTender.objects.get(sale=sold["id"]).session_id) == day["open"]
    counted = _ok(cashier_client.get(report))["expected_cash"]
    z = _ok(
        cashier_client.post(f"/api/v1/cash-sessions/{day['open']}/close", {"counted": {"cash": counted}}, format="json")
    )
    assert (z["z_number"], z["variance"], z["sales_count"]) == (2, "0.00", 2)
    t2 = _ok(cashier_client.post("/api/v1/cash-sessions", {"register": "T2", "opening_float": "50.00"}, format="json"))
    z2 = _ok(
        cashier_client.post(f"/api/v1/cash-sessions/{t2['id']}/close", {"counted": {"cash": "50.00"}}, format="json")
    )
    assert z2["z_number"] == 2


def test_a_box_rebuilt_without_its_registers_gets_them_back_by_code(day):
    events = box_lost()
    Register.objects.all().delete()

    restored_from(events, backup_seq=0)

    assert sorted(Register.objects.values_list("code", "last_z_number")) == [("T1", 1), ("T2", 1)]
    assert CashSession.objects.get(pk=day["open"]).status == "open"


def test_a_restored_box_refuses_drawer_writes_until_its_history_is_back(day, cashier_client):
    SyncState.objects.update_or_create(pk=1, defaults={"recovery_state": RecoveryState.RECOVERING})
    url = f"/api/v1/cash-sessions/{day['open']}"

    answers = [
        cashier_client.post(f"{url}/movements", {"kind": "out", "amount": "5.00"}, format="json"),
        cashier_client.post(f"{url}/close", {"counted": {"cash": "1.00"}}, format="json"),
        cashier_client.post("/api/v1/cash-sessions", {"register": "T2", "opening_float": "1.00"}, format="json"),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(409, "recovering")] * 3
    assert CashSession.objects.get(pk=day["open"]).status == "open"
