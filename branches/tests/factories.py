"""Builders for central-side tests: a branch credential and its event stream as its outbox would send it."""

import uuid
from datetime import UTC, datetime

from rest_framework.test import APIClient

from branches.credentials import branch_register
from branches.models import Branch
from branches.protocol import SCHEMA_VERSION, EventType
from inventory.models import StockLevel


def branch_client(code: str) -> tuple[APIClient, Branch]:
    branch, credential = branch_register(code=code, name=f"Sucursal {code}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Branch {credential}")
    return client, branch


class Events:
    """Builds a branch's event stream the way its outbox would."""

    def __init__(self, branch: str) -> None:
        self.branch = branch
        self.seq = 0

    def make(self, type_: str, payload: dict) -> dict:
        self.seq += 1
        return {
            "id": str(uuid.uuid4()),
            "branch": self.branch,
            "seq": self.seq,
            "type": type_,
            "occurred_at": datetime(2026, 11, 28, 12, 0, self.seq % 60, tzinfo=UTC).isoformat(),
            "schema": SCHEMA_VERSION,
            "payload": payload,
        }

    def received(self, **quantities):
        lines = [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]
        return self.make(EventType.STOCK_RECEIVED, {"transfer_id": None, "lines": lines})

    def sale(self, sale_id=None, **quantities):
        lines = [{"sku": s.replace("_", "-"), "quantity": q, "unit_price": "1.00"} for s, q in quantities.items()]
        return self.make(
            EventType.SALE_COMPLETED,
            {
                "sale_id": str(sale_id or uuid.uuid4()),
                "number": self.seq,
                "lines": lines,
                "total": "1.00",
                "payment_method": "cash",
                "cashier": "carla",
            },
        )

    def void(self, sale_id):
        return self.make(EventType.SALE_VOIDED, {"sale_id": str(sale_id), "reason": "test"})

    def count(self, sku, counted, previous):
        return self.make(
            EventType.STOCK_COUNTED,
            {"count_id": str(uuid.uuid4()), "lines": [{"sku": sku, "counted": counted, "previous": previous}]},
        )


def push(client, events, branch="B001"):
    return client.post("/api/v1/sync/events", {"branch": branch, "events": events}, format="json")


def on_hand(branch="B001") -> dict:
    return {level.product_id: level.on_hand for level in StockLevel.objects.filter(branch=branch)}


def snapshot(stream: "Events", as_of: int, **levels) -> dict:
    return stream.make(
        EventType.STOCK_SNAPSHOT,
        {"as_of_seq": as_of, "levels": [{"sku": s.replace("_", "-"), "on_hand": q} for s, q in levels.items()]},
    )
