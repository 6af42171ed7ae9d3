"""Central mode: each branch's cash sessions as their events tell them (cash.SessionRecord), and the check of a Z
report against the sales, returns and voids head office holds for its session (the reconciliation pass asks)."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from branches.models import Branch, BranchEvent
from branches.protocol import CASH, Envelope, EventType, sale_payments
from cash.models import SessionRecord
from ecomarket.quantities import money_text

CASH_TYPES = (EventType.CASH_SESSION_OPENED, EventType.CASH_SESSION_CLOSED)
ZERO = Decimal("0.00")


def session_records_write(*, branch: Branch, envelopes: list[Envelope]) -> None:
    """Fold a batch's new session events into the branch's session records, in the ingest's transaction (under the
    branch's row lock). The opening and the Z fill different fields, so it does not matter which arrives first."""
    for envelope in envelopes:
        if envelope.type not in CASH_TYPES:
            continue
        payload = envelope.payload
        record, _ = SessionRecord.objects.get_or_create(
            branch=branch, session_id=uuid.UUID(payload["session_id"]), defaults={"register": payload["register"]}
        )
        if envelope.type == EventType.CASH_SESSION_OPENED:
            record.opened_at = envelope.occurred_at
            record.opened_by = payload["opened_by"][:150]
            record.opening_float = Decimal(payload["opening_float"])
        else:
            record.closed_at = envelope.occurred_at
            record.z_number = payload["z_number"]
            record.first_seq, record.last_seq = payload["first_seq"], payload["last_seq"]
            record.z_report = payload
            record.expected_cash = Decimal(payload["expected_cash"])
            record.counted_cash = Decimal(payload["counted_cash"])
            record.variance = Decimal(payload["variance"])
        record.save()


@dataclass
class HeldFigures:
    """A session's figures from the events head office holds that name it."""

    sales_count: int
    sales: dict[str, Decimal]
    refunds: dict[str, Decimal]
    cash_in: Decimal
    cash_out: Decimal


def _amounts(pairs) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for method, amount in pairs:
        totals[method] = totals.get(method, ZERO) + amount
    return {method: amount for method, amount in totals.items() if amount}


def session_figures_held(*, record: SessionRecord) -> HeldFigures:
    """What the Z should say, from the session's events central holds (between its opening and its last seq)."""
    events = BranchEvent.objects.filter(
        branch=record.branch_id,
        seq__gte=record.first_seq,
        seq__lte=record.last_seq,
        payload__session_id=str(record.session_id),
    ).values_list("type", "payload")
    sales, refunds, moved = [], [], {"in": ZERO, "out": ZERO}
    count = 0
    for type_, payload in events:
        if type_ == EventType.SALE_COMPLETED:
            count += 1
            sales += sale_payments(payload)
        elif type_ in (EventType.SALE_VOIDED, EventType.RETURN_COMPLETED):
            refunds += [(item["method"], Decimal(item["amount"])) for item in payload.get("refunds", [])]
        elif type_ == EventType.CASH_MOVED:
            moved[payload["kind"]] += Decimal(payload["amount"])
    return HeldFigures(
        sales_count=count, sales=_amounts(sales), refunds=_amounts(refunds), cash_in=moved["in"], cash_out=moved["out"]
    )


def z_differences(*, record: SessionRecord) -> dict:
    """Where the Z report differs from the events head office holds for its session: {figure: {z, held}}."""
    z = record.z_report
    held = session_figures_held(record=record)
    said = {
        "sales_count": z["sales_count"],
        "sales": _amounts((item["method"], Decimal(item["amount"])) for item in z["sales"]),
        "refunds": _amounts((item["method"], Decimal(item["amount"])) for item in z["refunds"]),
        "cash_in": Decimal(z["cash_in"]),
        "cash_out": Decimal(z["cash_out"]),
    }
    differences = {}
    for key, value in said.items():
        found = getattr(held, key)
        if value != found:
            differences[key] = {"z": _shown(value), "held": _shown(found)}
    return differences


def _shown(value):
    if isinstance(value, dict):
        return {method: money_text(amount) for method, amount in sorted(value.items())}
    return money_text(value) if isinstance(value, Decimal) else value


def cash_expected(record: SessionRecord) -> Decimal:
    """The drawer's expected cash from what head office holds."""
    held = session_figures_held(record=record)
    return (
        (record.opening_float if record.opening_float is not None else Decimal(record.z_report["opening_float"]))
        + held.sales.get(CASH, ZERO)
        - held.refunds.get(CASH, ZERO)
        + held.cash_in
        - held.cash_out
    )
