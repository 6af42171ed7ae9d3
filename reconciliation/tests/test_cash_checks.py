"""Head office: each branch's cash sessions from their events, listed with their variances, and every Z checked
against the sales, returns and voids central holds for its session (reconciliation)."""

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from branches.models import EventProblem
from branches.tests.factories import Events, branch_client, push
from cash.models import SessionRecord, Verdict
from inventory.tests.factories import product_make
from reconciliation.models import Discrepancy, DiscrepancyKind, DiscrepancyStatus
from reconciliation.services import reconcile

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


class Drawer:
    """One register's session as a branch's outbox would send it."""

    def __init__(self, stream: Events, register: str = "T1") -> None:
        self.stream, self.register, self.id = stream, register, str(uuid.uuid4())
        self.opened = None

    def open(self, opening_float="100.00"):
        self.opened = self.stream.make(
            "cash.session_opened",
            {"session_id": self.id, "register": self.register, "opening_float": opening_float, "opened_by": "carla"},
        )
        return self.opened

    def sale(self, total, payments, change="0.00", sku="FRU-BANANA", quantity="1.000"):
        event = self.stream.sale(**{sku.replace("-", "_"): quantity})
        event["payload"].update(
            total=total,
            register=self.register,
            session_id=self.id,
            payments=[{"method": m, "amount": a} for m, a in payments],
            change=change,
        )
        return event

    def moved(self, kind, amount):
        payload = {"movement_id": str(uuid.uuid4()), "session_id": self.id, "register": self.register}
        return self.stream.make("cash.moved", {**payload, "kind": kind, "amount": amount, "reason": "pickup"})

    def close(self, *, sales_count, sales, cash_out="0.00", expected, counted):
        from decimal import Decimal

        last = self.stream.seq
        return self.stream.make(
            "cash.session_closed",
            {
                "session_id": self.id,
                "register": self.register,
                "z_number": 1,
                "first_seq": self.opened["seq"],
                "last_seq": last,
                "sales_count": sales_count,
                "first_sale_number": None,
                "last_sale_number": None,
                "sales": [{"method": m, "amount": a} for m, a in sales],
                "refunds": [],
                "cash_in": "0.00",
                "cash_out": cash_out,
                "opening_float": "100.00",
                "expected_cash": expected,
                "counted_cash": counted,
                "variance": str(Decimal(counted) - Decimal(expected)),
                "closed_by": "carla",
            },
        )


def test_central_lists_a_branch_s_sessions_with_their_variance(manager_client):
    product_make()
    client, _ = branch_client("B001")
    stream = Events("B001")
    drawer = Drawer(stream)
    events = [drawer.open(), drawer.sale("1.80", [("cash", "1.80")]), drawer.moved("out", "50.00")]
    events.append(
        drawer.close(sales_count=1, sales=[("cash", "1.80")], cash_out="50.00", expected="51.80", counted="50.80")
    )

    assert push(client, events).json()["accepted"] == 4
    rows = manager_client.get("/api/v1/cash-sessions", {"branch": "B001", "date": "2026-11-28"}).json()["results"]

    assert [(r["register"], r["status"], r["variance"], r["expected_cash"], r["verdict"]) for r in rows] == [
        ("T1", "closed", "-1.00", "51.80", "pending")
    ]
    assert manager_client.get("/api/v1/cash-sessions", {"date": "2026-11-29"}).json()["results"] == []


def test_a_z_that_agrees_with_the_sales_central_holds_is_settled_without_a_finding():
    product_make()
    client, _ = branch_client("B001")
    drawer = Drawer(Events("B001"))
    events = [drawer.open(), drawer.sale("3.60", [("card", "2.00"), ("cash", "1.60")], change="0.40")]
    events.append(
        drawer.close(sales_count=1, sales=[("card", "2.00"), ("cash", "1.60")], expected="101.60", counted="101.60")
    )
    push(client, events)

    reconcile()

    assert SessionRecord.objects.get().verdict == Verdict.AGREES
    assert not Discrepancy.objects.filter(kind=DiscrepancyKind.CASH_MISMATCH).exists()


def test_a_z_is_judged_only_once_central_holds_every_seq_up_to_its_last():
    product_make()
    client, _ = branch_client("B001")
    drawer = Drawer(Events("B001"))
    opened, sale = drawer.open(), drawer.sale("1.80", [("cash", "1.80")])
    close = drawer.close(sales_count=1, sales=[("cash", "1.80")], expected="101.80", counted="101.80")
    push(client, [opened, close])  # the sale is late

    reconcile()
    assert SessionRecord.objects.get().verdict == Verdict.PENDING
    assert not Discrepancy.objects.filter(kind=DiscrepancyKind.CASH_MISMATCH).exists()

    push(client, [sale])
    reconcile()
    assert SessionRecord.objects.get().verdict == Verdict.AGREES


def test_a_z_whose_sale_central_rejected_is_a_cash_mismatch_until_the_sale_is_stored():
    product_make()
    client, _ = branch_client("B001")
    drawer = Drawer(Events("B001"))
    opened = drawer.open()
    withheld = drawer.sale("2.00", [("card", "2.00")], sku="NEW-SKU", quantity="1")
    close = drawer.close(sales_count=1, sales=[("card", "2.00")], expected="100.00", counted="100.00")
    answer = push(client, [opened, withheld, close]).json()
    assert [r["code"] for r in answer["rejected"]] == ["unknown_sku"]

    reconcile()
    mismatch = Discrepancy.objects.get(kind=DiscrepancyKind.CASH_MISMATCH, status=DiscrepancyStatus.OPEN)
    assert mismatch.sku == "T1 Z1"
    assert mismatch.detail["differences"]["sales_count"] == {"z": 1, "held": 0}
    assert mismatch.detail["differences"]["sales"] == {"z": {"card": "2.00"}, "held": {}}

    product_make(sku="NEW-SKU", unit="unit")  # the catalog caught up; the branch re-sends its parked sale
    push(client, [withheld])
    reconcile()

    mismatch.refresh_from_db()
    assert mismatch.status == DiscrepancyStatus.AUTO_RESOLVED
    assert SessionRecord.objects.get().verdict == Verdict.AGREES


@override_settings(CASH_SESSION_OPEN_MAX_S=3600)
def test_a_session_left_open_past_the_threshold_is_a_finding_until_its_z_arrives():
    product_make()
    client, _ = branch_client("B001")
    drawer = Drawer(Events("B001"))
    push(client, [drawer.open()])
    opened_at = SessionRecord.objects.get().opened_at

    reconcile(now=opened_at + timedelta(minutes=30))
    assert not Discrepancy.objects.filter(kind=DiscrepancyKind.CASH_SESSION_OPEN).exists()
    reconcile(now=opened_at + timedelta(hours=2))
    finding = Discrepancy.objects.get(kind=DiscrepancyKind.CASH_SESSION_OPEN)
    assert (finding.sku, finding.status) == ("T1", DiscrepancyStatus.OPEN)

    push(client, [drawer.close(sales_count=0, sales=[], expected="100.00", counted="100.00")])
    reconcile(now=max(opened_at + timedelta(hours=2, minutes=1), timezone.now()))
    finding.refresh_from_db()
    assert finding.status == DiscrepancyStatus.AUTO_RESOLVED


def test_a_type_central_does_not_know_is_rejected_so_the_branch_parks_it():
    client, _ = branch_client("B001")
    stream = Events("B001")

    answer = push(client, [stream.make("cash.tip_added", {"amount": "1.00"})]).json()

    assert [r["code"] for r in answer["rejected"]] == ["unknown_type"]
    assert answer["high_water_seq"] == 1
    assert EventProblem.objects.get().code == "unknown_type"


def test_a_malformed_z_is_rejected():
    client, _ = branch_client("B001")
    drawer = Drawer(Events("B001"))
    opened = drawer.open()
    close = drawer.close(sales_count=0, sales=[], expected="100.00", counted="99.00")
    close["payload"]["variance"] = "0.00"

    answer = push(client, [opened, close]).json()

    assert [r["code"] for r in answer["rejected"]] == ["invalid_payload"]
