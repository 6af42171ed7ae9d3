"""The event protocol in one module (branches/protocol.py): its table in docs/protocol.md names the same types and
payload fields as the module, what a branch writes is what the builders build, the parser accepts what they build,
and a malformed envelope gets the same answer as before it had a code."""

import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings

from branches import protocol
from branches.models import BranchEvent, OutboxEvent
from branches.protocol import EventType
from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.services import Line, stock_adjustment_record
from inventory.tests.factories import product_make

DOC = Path(settings.BASE_DIR) / "docs" / "protocol.md"
DIGEST = "0" * 64

# Builder arguments for each type: the required ones, and every optional one set as well.
REQUIRED = {
    EventType.SALE_COMPLETED: dict(
        sale_id=uuid.uuid4(),
        number=7,
        lines=[("FRU-BANANA", Decimal("1.5"), Decimal("1.8"))],
        total=Decimal("2.7"),
        payment_method="cash",
        cashier="carla",
    ),
    EventType.SALE_VOIDED: dict(sale_id=uuid.uuid4(), reason="customer left"),
    EventType.RETURN_COMPLETED: dict(
        return_id=uuid.uuid4(), sale_id=uuid.uuid4(), lines=[("FRU-BANANA", Decimal("0.5"))]
    ),
    EventType.STOCK_RECEIVED: dict(transfer_id=None, lines=[("FRU-BANANA", Decimal("10"))]),
    EventType.STOCK_COUNTED: dict(count_id=uuid.uuid4(), lines=[("FRU-BANANA", Decimal("8.7"), Decimal("-1"))]),
    EventType.STOCK_ADJUSTED: dict(reason="broken", lines=[("FRU-BANANA", Decimal("-2"))]),
    EventType.STOCK_SNAPSHOT: dict(as_of_seq=3, levels=[("FRU-BANANA", Decimal("8.7"))]),
    EventType.EVENT_UNDELIVERABLE: dict(type="sale.completed", size=2_000_000, body_hash=DIGEST, reason="too_large"),
    EventType.CASH_SESSION_OPENED: dict(
        session_id=uuid.uuid4(), register="T1", opening_float=Decimal("100"), opened_by="carla"
    ),
    EventType.CASH_MOVED: dict(
        movement_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        register="T1",
        kind="out",
        amount=Decimal("50"),
        reason="pickup",
    ),
    EventType.CASH_SESSION_CLOSED: dict(
        session_id=uuid.uuid4(),
        register="T1",
        z_number=1,
        first_seq=2,
        last_seq=8,
        sales_count=1,
        first_sale_number=7,
        last_sale_number=7,
        sales=[("card", Decimal("2")), ("cash", Decimal("0.7"))],
        refunds=[("card", Decimal("1"))],
        cash_in=Decimal("0"),
        cash_out=Decimal("50"),
        opening_float=Decimal("100"),
        expected_cash=Decimal("50.7"),
        counted_cash=Decimal("49.7"),
        closed_by="carla",
    ),
}
TILL = dict(register="T1", session_id=uuid.uuid4())
# A sale line's optional fields (protocol.sale_line_extras): a scale label sold with a promotion's discount.
PRICED_LINE = protocol.sale_line_extras(
    quantity=Decimal("1.5"),
    unit_price=Decimal("1.8"),
    gross=Decimal("2.7"),
    discount=Decimal("0.27"),
    promotion_id=uuid.uuid4(),
    barcodes=["2000102015009"],
)
# A typed line with a promotion and the till's markdown: its own, and its share of the sale's.
MARKED_DOWN_LINE = protocol.sale_line_extras(
    quantity=Decimal("3"),
    unit_price=Decimal("1.25"),
    gross=Decimal("3.75"),
    discount=Decimal("1.90"),
    promotion_id=uuid.uuid4(),
    markdown=protocol.markdown_payload(percent=Decimal("20"), reason="near expiry"),
    markdown_discount=Decimal("0.65"),
)
# A line of a sale the till kept while the branch server was away, charged at the till's older price.
TILL_PRICED_LINE = protocol.sale_line_extras(
    quantity=Decimal("2"),
    unit_price=Decimal("1.20"),
    gross=Decimal("2.40"),
    discount=Decimal("0"),
    box_unit_price=Decimal("1.25"),
)
OPTIONAL = {
    EventType.SALE_COMPLETED: dict(
        lines=[
            ("FRU-BANANA", Decimal("1.5"), Decimal("1.8"), PRICED_LINE),
            ("LAC-LECHE-1L", Decimal("3"), Decimal("1.25"), MARKED_DOWN_LINE),
            ("LAC-YOGUR", Decimal("2"), Decimal("1.20"), TILL_PRICED_LINE),
        ],
        provisional_number="T1-3FA2-0007",
        markdown=protocol.markdown_payload(amount=Decimal("0.15"), reason="loyal customer"),
        markdown_approved_by="mario",
        customer={"name": "Ana", "phone": "+54 11 5555-0101", "email": "ana@example.com"},
        payments=[("card", Decimal("2")), ("cash", Decimal("0.7"))],
        change=Decimal("0.3"),
        **TILL,
    ),
    EventType.SALE_VOIDED: dict(refunds=[("cash", Decimal("2.7"))], **TILL),
    EventType.RETURN_COMPLETED: dict(
        lines=[("FRU-BANANA", Decimal("0.5"), Decimal("0.9"))],
        refunds=[("cash", Decimal("0.9"))],
        sale_branch="B002",
        **TILL,
    ),
    EventType.CASH_SESSION_CLOSED: dict(approved_by="mario"),
    EventType.STOCK_ADJUSTED: dict(change_id=12, change_digest=DIGEST),
    EventType.STOCK_SNAPSHOT: dict(part=2, parts=2),
    EventType.STOCK_RECEIVED: dict(
        transfer_id=uuid.uuid4(),
        receipt_id=uuid.uuid4(),
        differences=[("FRU-BANANA", Decimal("1.5"), Decimal("0.5")), ("LAC-LECHE-1L", Decimal("0"), Decimal("2"))],
    ),
}

# The other form of an optional object (a markdown is a percent off or an amount off).
ALTERNATIVE = {EventType.SALE_COMPLETED: dict(markdown=protocol.markdown_payload(percent=Decimal("5"), reason="x"))}


def _fields(spec: str) -> dict:
    """``a, b: [{c, d}], e: {f}`` as {"a": None, "b": {"c", "d"}, "e": {"f"}}."""
    fields = {}
    for item in re.findall(r"`([^`]+)`", spec):
        name, _, inner = item.partition(":")
        fields[name.strip()] = set(re.findall(r"\w+", inner)) if inner else None
    return fields


def documented() -> dict[str, tuple[dict, dict]]:
    """docs/protocol.md's table: type -> (payload fields, optional fields)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[a-z]+\.[a-z_]+`", cells[0]):
            rows[cells[0].strip("`")] = (_fields(cells[1]), _fields(cells[2]))
    return rows


def written(payload: dict) -> dict:
    """A payload's fields as the table writes them: nested keys for a list of objects or an object."""
    fields = {}
    for name, value in payload.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            fields[name] = set().union(*(item.keys() for item in value))
        elif isinstance(value, dict):
            fields[name] = set(value)
        else:
            fields[name] = None
    return fields


def test_the_protocol_table_names_every_event_type_and_the_fields_its_builder_writes():
    table = documented()

    assert set(table) == set(EventType.values) == set(protocol.PAYLOAD_BUILDERS)
    for type_, build in protocol.PAYLOAD_BUILDERS.items():
        required, optional = table[type_]
        assert written(build(**REQUIRED[type_])) == required, type_
        fields = written(build(**(REQUIRED[type_] | OPTIONAL.get(type_, {}))))
        if type_ in ALTERNATIVE:  # an optional object that takes one of its fields or another
            for name, keys in written(build(**(REQUIRED[type_] | OPTIONAL[type_] | ALTERNATIVE[type_]))).items():
                fields[name] = keys if fields.get(name) is None else fields[name] | keys
        assert fields == required | optional, type_


def _built(type_: str, arguments: dict, *, seq: int = 9) -> protocol.Envelope:
    # A snapshot's part k is the event right after as_of_seq + k - 1.
    seq = arguments["as_of_seq"] + arguments.get("part", 1) if "as_of_seq" in arguments else seq
    raw = protocol.envelope_build(
        id=uuid.uuid4(),
        branch="B001",
        seq=seq,
        type=type_,
        occurred_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        schema=protocol.SCHEMA_VERSION,
        payload=protocol.PAYLOAD_BUILDERS[type_](**arguments),
    )
    return protocol.envelope_parse(raw, branch="B001", index=0)


def test_every_payload_a_builder_makes_is_one_the_parser_accepts():
    for type_ in set(protocol.PAYLOAD_BUILDERS) - {EventType.EVENT_UNDELIVERABLE}:
        for arguments in (REQUIRED[type_], REQUIRED[type_] | OPTIONAL.get(type_, {})):
            # raises Rejection if it refuses it
            protocol.event_effect(_built(type_, arguments), {"FRU-BANANA", "LAC-LECHE-1L", "LAC-YOGUR"})


@pytest.mark.parametrize(
    ("sale", "line"),
    [
        ({"markdown": {"percent": "10.00", "amount": "1.00", "reason": "x"}}, {}),
        ({"markdown": {"percent": "100.01", "reason": "x"}}, {}),
        ({"markdown": {"amount": "1.00"}}, {}),
        ({"markdown": {"amount": "1.00", "reason": "x", "by": "y"}}, {}),
        ({"markdown_approved_by": ""}, {}),
        ({}, {"markdown_discount": "1.91"}),  # more than the line's discount, 1.90
        ({}, {"line_total": None, "gross": None, "discount": None}),  # a markdown_discount alone
        ({}, {"markdown": {"amount": 1, "reason": "x"}}),
    ],
)
def test_a_sale_whose_markdowns_do_not_add_up_or_read_is_rejected(sale, line):
    arguments = REQUIRED[EventType.SALE_COMPLETED] | OPTIONAL[EventType.SALE_COMPLETED]
    envelope = _built(EventType.SALE_COMPLETED, arguments)
    marked_down = {key: value for key, value in {**envelope.payload["lines"][1], **line}.items() if value is not None}
    payload = {**envelope.payload, **sale, "lines": [envelope.payload["lines"][0], marked_down]}
    spoilt = protocol.Envelope(**{**envelope.__dict__, "payload": payload})

    with pytest.raises(protocol.Rejection) as rejected:
        protocol.event_effect(spoilt, {"FRU-BANANA", "LAC-LECHE-1L"})
    assert rejected.value.code == "invalid_payload"


def test_an_undeliverable_events_stand_in_is_always_rejected_naming_why():
    with pytest.raises(protocol.Rejection) as rejected:
        protocol.event_effect(_built(EventType.EVENT_UNDELIVERABLE, REQUIRED[EventType.EVENT_UNDELIVERABLE]), set())

    assert rejected.value.code == "undeliverable"
    assert "sale.completed" in rejected.value.detail and "too_large" in rejected.value.detail


def test_a_snapshot_part_must_be_the_event_right_after_its_as_of_seq_plus_the_parts_before_it():
    envelope = _built(EventType.STOCK_SNAPSHOT, REQUIRED[EventType.STOCK_SNAPSHOT] | {"part": 2, "parts": 3})
    protocol.event_effect(envelope, set())
    for wrong in ({"part": 2, "parts": 1}, {"part": 0, "parts": 2}, {"part": "1", "parts": 2}):
        misplaced = protocol.Envelope(**{**envelope.__dict__, "payload": {**envelope.payload, **wrong}})
        with pytest.raises(protocol.Rejection):
            protocol.event_effect(misplaced, set())


def test_a_snapshot_too_large_for_half_a_request_is_cut_into_parts_by_sku_range():
    levels = [(f"SKU-{i:05d}", Decimal(i)) for i in range(3000)]

    parts = protocol.stock_snapshot_parts(as_of_seq=41, levels=levels, max_bytes=20_000)

    assert len(parts) > 1
    assert [(p["part"], p["parts"]) for p in parts] == [(k, len(parts)) for k in range(1, len(parts) + 1)]
    assert [level["sku"] for p in parts for level in p["levels"]] == [sku for sku, _ in levels]
    assert all(len(json.dumps(p["levels"], separators=(",", ":"))) <= 20_000 for p in parts)
    assert protocol.stock_snapshot_parts(as_of_seq=41, levels=levels[:10], max_bytes=20_000) == [
        protocol.stock_snapshot_payload(as_of_seq=41, levels=levels[:10])
    ]


def _rebuilt(type_: str, payload: dict) -> dict:
    """The payload built again by its builder from the values it carries."""
    lines = payload.get("lines", [])
    match type_:
        case EventType.SALE_COMPLETED:
            return protocol.sale_completed_payload(
                sale_id=uuid.UUID(payload["sale_id"]),
                number=payload["number"],
                lines=[(line["sku"], Decimal(line["quantity"]), Decimal(line["unit_price"])) for line in lines],
                total=Decimal(payload["total"]),
                payment_method=payload["payment_method"],
                cashier=payload["cashier"],
                customer=payload.get("customer"),
                payments=_pairs(payload["payments"]) if "payments" in payload else None,
                change=Decimal(payload["change"]) if "change" in payload else None,
                **_till(payload),
            )
        case EventType.SALE_VOIDED:
            return protocol.sale_voided_payload(
                sale_id=uuid.UUID(payload["sale_id"]), reason=payload["reason"], **_till(payload), **_refunds(payload)
            )
        case EventType.RETURN_COMPLETED:
            return protocol.return_completed_payload(
                return_id=uuid.UUID(payload["return_id"]),
                sale_id=uuid.UUID(payload["sale_id"]),
                lines=[
                    (
                        line["sku"],
                        Decimal(line["quantity"]),
                        *([Decimal(line["line_total"])] if "line_total" in line else []),
                    )
                    for line in lines
                ],
                sale_branch=payload.get("sale_branch", ""),
                **_till(payload),
                **_refunds(payload),
            )
        case EventType.CASH_SESSION_OPENED:
            return protocol.cash_session_opened_payload(
                session_id=uuid.UUID(payload["session_id"]),
                register=payload["register"],
                opening_float=Decimal(payload["opening_float"]),
                opened_by=payload["opened_by"],
            )
        case EventType.CASH_MOVED:
            return protocol.cash_moved_payload(
                movement_id=uuid.UUID(payload["movement_id"]),
                session_id=uuid.UUID(payload["session_id"]),
                register=payload["register"],
                kind=payload["kind"],
                amount=Decimal(payload["amount"]),
                reason=payload["reason"],
            )
        case EventType.CASH_SESSION_CLOSED:
            money = ("cash_in", "cash_out", "opening_float", "expected_cash", "counted_cash")
            whole = ("z_number", "first_seq", "last_seq", "sales_count", "first_sale_number", "last_sale_number")
            return protocol.cash_session_closed_payload(
                session_id=uuid.UUID(payload["session_id"]),
                register=payload["register"],
                sales=_pairs(payload["sales"]),
                refunds=_pairs(payload["refunds"]),
                closed_by=payload["closed_by"],
                approved_by=payload.get("approved_by", ""),
                **{key: payload[key] for key in whole},
                **{key: Decimal(payload[key]) for key in money},
            )
        case EventType.STOCK_RECEIVED:
            return protocol.stock_received_payload(
                transfer_id=payload["transfer_id"] and uuid.UUID(payload["transfer_id"]),
                lines=[(line["sku"], Decimal(line["quantity"])) for line in lines],
                receipt_id=payload.get("receipt_id") and uuid.UUID(payload["receipt_id"]),
                differences=[
                    (item["sku"], Decimal(item["short"]), Decimal(item["damaged"]))
                    for item in payload.get("differences", [])
                ],
            )
        case EventType.STOCK_COUNTED:
            return protocol.stock_counted_payload(
                count_id=uuid.UUID(payload["count_id"]),
                lines=[(line["sku"], Decimal(line["counted"]), Decimal(line["previous"])) for line in lines],
            )
        case EventType.STOCK_ADJUSTED:
            return protocol.stock_adjusted_payload(
                reason=payload["reason"],
                lines=[(line["sku"], Decimal(line["delta"])) for line in lines],
                **{key: payload[key] for key in ("change_id", "change_digest") if key in payload},
            )
        case EventType.STOCK_SNAPSHOT:
            return protocol.stock_snapshot_payload(
                as_of_seq=payload["as_of_seq"],
                levels=[(level["sku"], Decimal(level["on_hand"])) for level in payload["levels"]],
                **{key: payload[key] for key in ("part", "parts") if key in payload},
            )
    raise AssertionError(type_)


def _pairs(items: list[dict]) -> list[tuple[str, Decimal]]:
    return [(item["method"], Decimal(item["amount"])) for item in items]


def _till(payload: dict) -> dict:
    return {
        **({"register": payload["register"]} if "register" in payload else {}),
        **({"session_id": uuid.UUID(payload["session_id"])} if "session_id" in payload else {}),
    }


def _refunds(payload: dict) -> dict:
    return {"refunds": _pairs(payload["refunds"])} if "refunds" in payload else {}


def _post(client, path, body):
    response = client.post(path, body, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.mark.mode("branch")
@pytest.mark.django_db
# SYNC_BATCH_MAX_BYTES: the count's snapshot of the two SKUs is written in two parts.
@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True, SYNC_BATCH_MAX_BYTES=100)
def test_what_the_branch_writes_for_each_type_is_what_its_builder_builds(shelf, cashier_client, manager_client):
    contact = {"name": "Ana", "phone": "+54 11 5555-0101"}
    _post(manager_client, "/api/v1/registers", {"code": "T1", "name": "Caja 1"})
    session = _post(cashier_client, "/api/v1/cash-sessions", {"register": "T1", "opening_float": "100.00"})
    _post(cashier_client, f"/api/v1/cash-sessions/{session['id']}/movements", {"kind": "out", "amount": "20.00"})
    sale = _post(
        cashier_client,
        "/api/v1/sales",
        {
            "lines": [{"sku": "FRU-BANANA", "quantity": "1.5"}],
            "register": "T1",
            "payments": [{"method": "card", "amount": "1.00"}, {"method": "cash", "amount": "5.00"}],
        },
    )
    _post(
        cashier_client, "/api/v1/returns", {"sale_id": sale["id"], "lines": [{"sku": "FRU-BANANA", "quantity": "0.5"}]}
    )
    other = _post(
        cashier_client, "/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "7"}], "customer": contact}
    )
    _post(manager_client, f"/api/v1/sales/{other['id']}/void", {"reason": "customer left"})
    _post(cashier_client, "/api/v1/stock/receipts", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "12"}]})
    _post(cashier_client, "/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": "8.7"}]})
    _post(cashier_client, f"/api/v1/cash-sessions/{session['id']}/close", {"counted": {"cash": "81.70"}})
    with transaction.atomic():
        stock_adjustment_record(reason="broken", lines=[Line(sku="LAC-LECHE-1L", quantity=Decimal("-2"))])
        stock_adjustment_record(
            reason="ordered", lines=[Line(sku="FRU-BANANA", quantity=Decimal("1"))], change_id=4, change_digest=DIGEST
        )

    events = list(OutboxEvent.objects.order_by("seq"))
    # A stand-in for an undeliverable event travels in its place and is never written.
    assert {event.type for event in events} == set(EventType.values) - {EventType.EVENT_UNDELIVERABLE}
    assert any("customer" in event.payload for event in events)
    assert any("payments" in event.payload for event in events)
    assert [e.payload.get("part") for e in events if e.type == EventType.STOCK_SNAPSHOT] == [1, 2]
    for event in events:
        assert _rebuilt(event.type, event.payload) == event.payload, event


@pytest.mark.mode("branch")
@pytest.mark.django_db
@override_settings(BRANCH_ALLOW_NEGATIVE_STOCK=True)
def test_each_event_says_once_what_its_service_did_to_stock_and_which_request_it_answers(
    shelf, cashier_client, manager_client
):
    """One recipe per event: for every event the branch wrote, the protocol module's stock effect is the ledger rows
    its service wrote, and its fingerprint is the one its document stored (what a restored box's replay gives the
    document, so a till retrying the same request there gets it back)."""
    from inventory.models import Return, Sale, StockDocument, StockMovement

    sale = _post(
        cashier_client,
        "/api/v1/sales",
        {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "7"}], "customer": {"name": "Ana", "phone": "+54 11 5555-0101"}},
    )
    _post(
        cashier_client, "/api/v1/returns", {"sale_id": sale["id"], "lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]}
    )
    other = _post(cashier_client, "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1.5"}]})
    _post(manager_client, f"/api/v1/sales/{other['id']}/void", {"reason": "customer left"})
    _post(cashier_client, "/api/v1/stock/receipts", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "12"}]})
    _post(cashier_client, "/api/v1/stock/counts", {"lines": [{"sku": "FRU-BANANA", "counted": "8.7"}]})

    stored = {
        **dict(Sale.objects.values_list("id", "fingerprint")),
        **dict(Return.objects.values_list("id", "fingerprint")),
        **dict(StockDocument.objects.values_list("id", "fingerprint")),
    }
    for event in OutboxEvent.objects.order_by("seq"):
        moved = {sku: q for sku, q in StockMovement.objects.filter(seq=event.seq).values_list("product_id", "quantity")}
        effect = protocol.payload_deltas(event.type, event.payload)
        if event.type == EventType.SALE_VOIDED:
            sold = OutboxEvent.objects.get(type=EventType.SALE_COMPLETED, payload__sale_id=event.payload["sale_id"])
            effect = protocol.void_deltas((line["sku"], Decimal(line["quantity"])) for line in sold.payload["lines"])
        assert moved == {sku: q for sku, q in effect.items() if q}, event
        document = protocol.document_id(event.type, event.payload)
        if event.type != EventType.SALE_VOIDED and document is not None:
            assert protocol.payload_fingerprint(event.type, event.payload) == stored[document], event


@pytest.mark.mode("central")
@pytest.mark.django_db
@pytest.mark.parametrize(
    "spoil, status, code, detail",
    [
        (lambda event: event.update(branch="B002"), 403, "wrong_branch", "events[0].branch must be 'B001'"),
        (lambda event: event.update(id="nope"), 400, "invalid_event", "events[0].id must be a UUID"),
        (lambda event: event.update(seq=0), 400, "invalid_event", "events[0].seq must be a positive integer"),
        (
            lambda event: event.update(occurred_at="2026-11-28T12:00:00"),
            400,
            "invalid_event",
            "events[0].occurred_at must be an ISO 8601 time with an offset",
        ),
        (lambda event: event.update(schema="1"), 400, "invalid_event", "events[0].schema must be an integer"),
    ],
)
def test_a_malformed_envelope_refuses_the_whole_request_with_its_code(spoil, status, code, detail):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    client, _ = branch_client("B001")
    stream = Events("B001")
    event = stream.received(FRU_BANANA="1")
    spoil(event)

    response = push(client, [event])

    assert response.status_code == status
    assert response.json() == {"code": code, "detail": detail, "fields": {}}
    assert not BranchEvent.objects.exists()


@pytest.mark.mode("central")
@pytest.mark.django_db
def test_a_batch_over_the_limit_is_refused_whole():
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    client, _ = branch_client("B001")
    stream = Events("B001")

    response = push(client, [stream.received(FRU_BANANA="1") for _ in range(protocol.MAX_BATCH + 1)])

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_event",
        "detail": f"events must be a list of 1 to {protocol.MAX_BATCH} events",
        "fields": {},
    }
