"""Both sides: the event protocol of docs/protocol.md in one place, written by the branch and read by central.

- :class:`EventType`, :data:`SCHEMA_VERSION`, :data:`MAX_BATCH`: what an event may be, and how many travel at once;
- the envelope: :func:`envelope_build` (the branch sends, central serves a branch's events back) and
  :func:`envelope_parse` (central refuses the whole request with :class:`EnvelopeError` when one is unsound);
- each payload's builder (``<type>_payload``: the branch writes exactly these keys, quantities and money as decimal
  strings) and its parser, :func:`event_effect` (central turns a payload into its stock effect, or a
  :class:`Rejection` the branch parks);
- in the other direction, :func:`change_digest`, which both ends compute from a change-feed item.

docs/protocol.md lists every type with its payload fields; a test holds that table and this module to each other.
Nothing here touches the database.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import models
from django.utils.dateparse import parse_datetime

from ecomarket.quantities import (
    MONEY_DIGITS,
    QUANTITY_DIGITS,
    NumberFormatError,
    decimal_parse,
    money,
    money_text,
    quantity_text,
)

SCHEMA_VERSION = 1
MAX_BATCH = 500  # events in one POST /api/v1/sync/events (docs/protocol.md)
# A push names the branch's clock at the moment it is sent (UTC, ISO 8601); central compares it with its own on
# arrival and keeps the difference per branch (its clock skew). Optional: a push without it is taken as before.
CLOCK_HEADER = "X-EcoMarket-Clock"


def clock_header_value(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def clock_skew(value: str | None, *, arrived: datetime) -> float | None:
    """Seconds the sender's clock (``value``, from :data:`CLOCK_HEADER`) is ahead of ``arrived``, rounded to a tenth;
    None when it sent none or something that is not a time with its offset. The transit and the body's upload make a
    branch look that much behind: a fraction of a second, far below any clock worth an alert."""
    moment = parse_datetime(value.strip()) if value and len(value) <= 40 else None
    if moment is None or moment.tzinfo is None:
        return None
    return round((moment - arrived).total_seconds(), 1)


class EventType(models.TextChoices):
    SALE_COMPLETED = "sale.completed"
    SALE_VOIDED = "sale.voided"
    RETURN_COMPLETED = "return.completed"
    STOCK_RECEIVED = "stock.received"
    STOCK_COUNTED = "stock.counted"
    STOCK_ADJUSTED = "stock.adjusted"
    STOCK_SNAPSHOT = "stock.snapshot"
    # The cash drawer (cash/): they move no stock. A central older than them rejects them as unknown, and the branch
    # parks them and re-sends them once central is upgraded.
    CASH_SESSION_OPENED = "cash.session_opened"
    CASH_MOVED = "cash.moved"
    CASH_SESSION_CLOSED = "cash.session_closed"
    # Not a fact of the shop: what a branch sends in place of an event it cannot deliver whole (too large for any
    # request, or refused alone), under that event's id and seq, so central accounts the seq as a known hole.
    EVENT_UNDELIVERABLE = "event.undeliverable"


# ----------------------------------------------------------------------------------------------------------------
# The envelope
# ----------------------------------------------------------------------------------------------------------------


class EnvelopeError(ValueError):
    """The request itself is malformed: nothing of it is stored. ``code`` is the API's error code: ``invalid_event``
    (400), or ``wrong_branch`` (403) for an event that names another branch than the one speaking."""

    INVALID_EVENT = "invalid_event"
    WRONG_BRANCH = "wrong_branch"

    def __init__(self, detail: str, *, code: str = INVALID_EVENT) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class Envelope:
    id: uuid.UUID
    seq: int
    type: str
    occurred_at: datetime
    schema: int
    payload: dict
    raw: dict
    hash: str


def body_hash(event: dict) -> str:
    """What tells a resend (same id, same body) from a conflict (same id, another body)."""
    return hashlib.sha256(json.dumps(event, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def envelope_build(
    *, id: uuid.UUID, branch: str, seq: int, type: str, occurred_at: datetime, schema: int, payload: dict
) -> dict:
    """An event as it travels (docs/protocol.md): ``occurred_at`` with milliseconds, in the offset it is given in."""
    return {
        "id": str(id),
        "branch": branch,
        "seq": seq,
        "type": type,
        "occurred_at": occurred_at.isoformat(timespec="milliseconds"),
        "schema": schema,
        "payload": payload,
    }


def envelope_parse(raw, *, branch: str, index: int) -> Envelope:
    """The envelope must be sound for the event to be identified at all; otherwise the whole request is refused."""
    if not isinstance(raw, dict):
        raise EnvelopeError(f"events[{index}] must be an object")
    try:
        event_id = uuid.UUID(str(raw["id"]))
    except (KeyError, ValueError):
        raise EnvelopeError(f"events[{index}].id must be a UUID") from None
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or seq > 2**62:
        raise EnvelopeError(f"events[{index}].seq must be a positive integer")
    if raw.get("branch") != branch:
        raise EnvelopeError(f"events[{index}].branch must be {branch!r}", code=EnvelopeError.WRONG_BRANCH)
    occurred_at = parse_datetime(raw["occurred_at"]) if isinstance(raw.get("occurred_at"), str) else None
    if occurred_at is None or occurred_at.tzinfo is None:
        raise EnvelopeError(f"events[{index}].occurred_at must be an ISO 8601 time with an offset")
    if not isinstance(raw.get("type"), str) or not isinstance(raw.get("payload"), dict):
        raise EnvelopeError(f"events[{index}] needs a string type and an object payload")
    schema = raw.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise EnvelopeError(f"events[{index}].schema must be an integer")
    return Envelope(
        id=event_id,
        seq=seq,
        type=raw["type"],
        occurred_at=occurred_at,
        schema=schema,
        payload=raw["payload"],
        raw=raw,
        hash=body_hash(raw),
    )


# ----------------------------------------------------------------------------------------------------------------
# Payload builders: what the branch writes for each type
# ----------------------------------------------------------------------------------------------------------------


def sale_completed_payload(
    *,
    sale_id: uuid.UUID,
    number: int,
    lines: Iterable[tuple[str, Decimal, Decimal]],
    total: Decimal,
    payment_method: str,
    cashier: str,
    customer: dict | None = None,
    register: str = "",
    session_id: uuid.UUID | None = None,
    payments: Iterable[tuple[str, Decimal]] | None = None,
    change: Decimal | None = None,
    markdown: dict | None = None,
    markdown_approved_by: str = "",
    provisional_number: str = "",
) -> dict:
    """``lines``: (sku, quantity, unit_price), or with a fourth item, the line's optional fields
    (:func:`sale_line_extras`). ``customer`` ({name, phone, email}, optional in schema 1): the contact of an
    oversold sale's customer; the caller passes it only for such a sale. Optional in schema 1 too: the
    ``register`` (till) it was rung up on and its open cash ``session_id``; ``payments`` (method, amount kept) summing
    to the total, with the ``change`` given back in cash, only for a sale that was paid with them (a sale without
    them was paid in full by ``payment_method``); ``markdown`` (:func:`markdown_payload`): a discount the till gave
    on the whole sale, shared out over its lines' ``markdown_discount``; ``markdown_approved_by``: the manager who
    approved the sale's markdowns, where they needed one. ``provisional_number``: the number on the provisional
    receipt of a sale the till kept while the branch server was away and sent later (the event's ``occurred_at`` is
    then the till's time of the sale)."""
    return {
        "sale_id": str(sale_id),
        "number": number,
        "lines": [
            {"sku": sku, "quantity": quantity_text(quantity), "unit_price": money_text(unit_price), **extra}
            for sku, quantity, unit_price, *rest in lines
            for extra in (rest[0] if rest else {},)
        ],
        "total": money_text(total),
        "payment_method": payment_method,
        "cashier": cashier,
        **({"customer": customer} if customer else {}),
        **_till_fields(register=register, session_id=session_id),
        **({"payments": _amounts(payments), "change": money_text(change or 0)} if payments is not None else {}),
        **({"markdown": markdown} if markdown else {}),
        **({"markdown_approved_by": markdown_approved_by} if markdown_approved_by else {}),
        **({"provisional_number": provisional_number} if provisional_number else {}),
    }


# A provisional receipt's number, as a till makes it: its register, its device's tag and a counter (T1-3FA2-0007).
PROVISIONAL_NUMBER = r"[A-Za-z0-9_-]{1,32}"

MARKDOWN_REASON_MAX = 200


def markdown_payload(*, reason: str, percent: Decimal | None = None, amount: Decimal | None = None) -> dict:
    """A discount the till asked for, as the sale event and the sale's fingerprint write it: a ``percent`` off or
    an ``amount`` off (one of them), and its ``reason``."""
    figure = {"percent": money_text(percent)} if percent is not None else {"amount": money_text(amount)}
    return {**figure, "reason": reason}


def sale_line_extras(
    *,
    quantity: Decimal,
    unit_price: Decimal,
    gross: Decimal,
    discount: Decimal,
    promotion_id: uuid.UUID | None = None,
    barcodes: Iterable[str] = (),
    markdown: dict | None = None,
    markdown_discount: Decimal = Decimal("0"),
    box_unit_price: Decimal | None = None,
) -> dict:
    """A sale line's optional fields (schema 1), written only where the line is not simply quantity x unit price:
    ``gross`` (before any discount: the scale label's price where it printed one), ``discount`` and the
    ``line_total`` they leave, the ``promotion_id`` that took the discount, the scale labels (``barcodes``) that
    named the line's product and quantity. ``markdown_discount``: the part of ``discount`` the till's markdowns
    took (the line's own ``markdown``, :func:`markdown_payload`, and its share of the sale's); the rest is the
    promotion's. ``box_unit_price``: for a sale the till kept while the branch server was away and charged at the
    price it showed (``unit_price``), the branch's own price in force at the sale's time, written only where the
    two differ."""
    barcodes = list(barcodes)
    extra = {}
    if discount or gross != money(quantity * unit_price):
        extra.update(line_total=money_text(gross - discount), gross=money_text(gross), discount=money_text(discount))
    if promotion_id is not None:
        extra["promotion_id"] = str(promotion_id)
    if markdown:
        extra["markdown"] = markdown
    if markdown_discount:
        extra["markdown_discount"] = money_text(markdown_discount)
    if barcodes:
        extra["barcodes"] = barcodes
    if box_unit_price is not None and box_unit_price != unit_price:
        extra["box_unit_price"] = money_text(box_unit_price)
    return extra


def _till_fields(*, register: str, session_id: uuid.UUID | None) -> dict:
    return {
        **({"register": register} if register else {}),
        **({"session_id": str(session_id)} if session_id else {}),
    }


def _amounts(pairs: Iterable[tuple[str, Decimal]]) -> list[dict]:
    """(method, amount) pairs as a payload writes them."""
    return [{"method": method, "amount": money_text(amount)} for method, amount in pairs]


def sale_voided_payload(
    *,
    sale_id: uuid.UUID,
    reason: str,
    register: str = "",
    session_id: uuid.UUID | None = None,
    refunds: Iterable[tuple[str, Decimal]] | None = None,
) -> dict:
    """``refunds`` (method, amount paid back; optional in schema 1), from the drawer of ``register``'s open cash
    ``session_id`` when there was one."""
    return {
        "sale_id": str(sale_id),
        "reason": reason,
        **_till_fields(register=register, session_id=session_id),
        **({"refunds": _amounts(refunds)} if refunds is not None else {}),
    }


def return_completed_payload(
    *,
    return_id: uuid.UUID,
    sale_id: uuid.UUID,
    lines: Iterable[tuple[str, Decimal] | tuple[str, Decimal, Decimal]],
    register: str = "",
    session_id: uuid.UUID | None = None,
    refunds: Iterable[tuple[str, Decimal]] | None = None,
    sale_branch: str = "",
) -> dict:
    """``lines``: (sku, quantity taken back), or with a third item the ``line_total`` it paid back (optional in
    schema 1: its share of what the sale line cost, promotions and discounts taken off). ``refunds`` as for a
    void. ``sale_branch`` (optional in schema 1): the store that made the sale, when it is another store's (taken
    back from the chain's index of recent sales); head office books the return against that store's sale."""
    return {
        "return_id": str(return_id),
        "sale_id": str(sale_id),
        **({"sale_branch": sale_branch} if sale_branch else {}),
        "lines": [
            {"sku": sku, "quantity": quantity_text(quantity), **({"line_total": money_text(rest[0])} if rest else {})}
            for sku, quantity, *rest in lines
        ],
        **_till_fields(register=register, session_id=session_id),
        **({"refunds": _amounts(refunds)} if refunds is not None else {}),
    }


def cash_session_opened_payload(
    *, session_id: uuid.UUID, register: str, opening_float: Decimal, opened_by: str
) -> dict:
    return {
        "session_id": str(session_id),
        "register": register,
        "opening_float": money_text(opening_float),
        "opened_by": opened_by,
    }


def cash_moved_payload(
    *, movement_id: uuid.UUID, session_id: uuid.UUID, register: str, kind: str, amount: Decimal, reason: str
) -> dict:
    """``kind``: ``in`` (cash put in the drawer) or ``out`` (taken out: a pickup to the safe)."""
    return {
        "movement_id": str(movement_id),
        "session_id": str(session_id),
        "register": register,
        "kind": kind,
        "amount": money_text(amount),
        "reason": reason,
    }


def cash_session_closed_payload(
    *,
    session_id: uuid.UUID,
    register: str,
    z_number: int,
    first_seq: int,
    last_seq: int,
    sales_count: int,
    first_sale_number: int | None,
    last_sale_number: int | None,
    sales: Iterable[tuple[str, Decimal]],
    refunds: Iterable[tuple[str, Decimal]],
    cash_in: Decimal,
    cash_out: Decimal,
    opening_float: Decimal,
    expected_cash: Decimal,
    counted_cash: Decimal,
    closed_by: str,
    approved_by: str = "",
) -> dict:
    """The Z report's figures. Its events are the branch's seqs ``first_seq`` (the session's opening) to ``last_seq``
    (the last before the close): central checks them once it holds every seq up to ``last_seq``. ``sales``: what its
    sales kept by method (change deducted); ``refunds``: what its returns and voids paid back by method."""
    return {
        "session_id": str(session_id),
        "register": register,
        "z_number": z_number,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "sales_count": sales_count,
        "first_sale_number": first_sale_number,
        "last_sale_number": last_sale_number,
        "sales": _amounts(sales),
        "refunds": _amounts(refunds),
        "cash_in": money_text(cash_in),
        "cash_out": money_text(cash_out),
        "opening_float": money_text(opening_float),
        "expected_cash": money_text(expected_cash),
        "counted_cash": money_text(counted_cash),
        "variance": money_text(counted_cash - expected_cash),
        "closed_by": closed_by,
        **({"approved_by": approved_by} if approved_by else {}),
    }


def stock_received_payload(
    *,
    transfer_id: uuid.UUID | None,
    lines: Iterable[tuple[str, Decimal]],
    receipt_id: uuid.UUID | None = None,
    differences: Iterable[tuple[str, Decimal, Decimal]] = (),
) -> dict:
    """``transfer_id``: the transfer head office sent, or None for a supplier's delivery. ``lines``: what went on
    the shelf. ``receipt_id`` (optional in schema 1): the receipt's own id, the one a form submitted again carries,
    so a receipt is counted once by it at central and recognised by it when a restored branch replays the event.
    ``differences`` (optional in schema 1, a transfer's receipt only): (sku, short, damaged) where the goods that
    arrived were fewer than sent or unsellable; per SKU, received + short + damaged is what the transfer sent."""
    differences = [
        {"sku": sku, "short": quantity_text(short), "damaged": quantity_text(damaged)}
        for sku, short, damaged in differences
    ]
    return {
        "transfer_id": str(transfer_id) if transfer_id else None,
        "lines": [{"sku": sku, "quantity": quantity_text(quantity)} for sku, quantity in lines],
        **({"receipt_id": str(receipt_id)} if receipt_id else {}),
        **({"differences": differences} if differences else {}),
    }


def receipt_differences(payload: dict, known: set[str] | None = None) -> list[tuple[str, Decimal, Decimal]]:
    """A receipt's optional ``differences`` checked and read: (sku, short, damaged), each SKU once, something
    short or damaged on each, only on a transfer's receipt. ``known``: the catalog's SKUs (None: not checked)."""
    items = payload.get("differences", [])
    if items and not payload.get("transfer_id"):
        raise Rejection("invalid_payload", "payload.differences is only for a transfer's receipt")
    if not isinstance(items, list):
        raise Rejection("invalid_payload", "payload.differences must be a list")
    result, seen = [], set()
    for index, item in enumerate(items):
        where = f"payload.differences[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str) or item["sku"] in seen:
            raise Rejection("invalid_payload", f"{where} needs a sku, each once")
        if known is not None and item["sku"] not in known:
            raise Rejection("unknown_sku", f"{where}.sku {item['sku']!r} is not in the catalog")
        short = decimal_read(item.get("short"), f"{where}.short")
        damaged = decimal_read(item.get("damaged"), f"{where}.damaged")
        if not short and not damaged:
            raise Rejection("invalid_payload", f"{where} must say what was short or damaged")
        seen.add(item["sku"])
        result.append((item["sku"], short, damaged))
    return result


def stock_counted_payload(*, count_id: uuid.UUID, lines: Iterable[tuple[str, Decimal, Decimal]]) -> dict:
    """``lines``: (sku, counted, previous), ``previous`` being what the books said (it may be negative)."""
    return {
        "count_id": str(count_id),
        "lines": [
            {"sku": sku, "counted": quantity_text(counted), "previous": quantity_text(previous)}
            for sku, counted, previous in lines
        ],
    }


def stock_adjusted_payload(
    *, reason: str, lines: Iterable[tuple[str, Decimal]], change_id: int | None = None, change_digest: str = ""
) -> dict:
    """``lines``: (sku, signed delta). ``change_id``/``change_digest`` (optional in schema 1): the change-feed item
    the adjustment applies, so a branch that replays the event from central after a restore knows it applied it."""
    payload = {"reason": reason, "lines": [{"sku": sku, "delta": quantity_text(delta)} for sku, delta in lines]}
    if change_id is not None:
        payload.update(change_id=change_id, change_digest=change_digest)
    return payload


def stock_snapshot_payload(
    *, as_of_seq: int, levels: Iterable[tuple[str, Decimal]], part: int | None = None, parts: int | None = None
) -> dict:
    """What the branch believes it holds (sku, on_hand) once every event up to ``as_of_seq`` is applied.
    ``part`` of ``parts`` (optional in schema 1): a snapshot too large for one request is written as consecutive
    events right after ``as_of_seq``, each with a range of the SKUs (see :func:`stock_snapshot_parts`)."""
    payload = {"as_of_seq": as_of_seq, "levels": [{"sku": sku, "on_hand": quantity_text(q)} for sku, q in levels]}
    if parts is not None:
        payload.update(part=part, parts=parts)
    return payload


def stock_snapshot_parts(*, as_of_seq: int, levels: Iterable[tuple[str, Decimal]], max_bytes: int) -> list[dict]:
    """A snapshot as one payload, or as several whose levels each take at most ``max_bytes`` once encoded (a
    store's whole catalog grows past any request's limit: 24,000 SKUs were 1 MiB). ``levels`` in SKU order, so each
    part is a range of SKUs."""
    chunks: list[list[tuple[str, Decimal]]] = [[]]
    size = 0
    for sku, on_hand in levels:
        cost = len(json.dumps({"sku": sku, "on_hand": quantity_text(on_hand)}, separators=(",", ":"))) + 1
        if chunks[-1] and size + cost > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append((sku, on_hand))
        size += cost
    if len(chunks) == 1:
        return [stock_snapshot_payload(as_of_seq=as_of_seq, levels=chunks[0])]
    return [
        stock_snapshot_payload(as_of_seq=as_of_seq, levels=chunk, part=number, parts=len(chunks))
        for number, chunk in enumerate(chunks, start=1)
    ]


def event_undeliverable_payload(*, type: str, size: int, body_hash: str, reason: str) -> dict:
    """The stand-in for an event the branch cannot deliver whole: its ``type``, its encoded ``size`` in bytes, its
    ``body_hash`` (:func:`body_hash` of the event as it would have travelled) and why (``reason``). Central records it
    as a rejection, so its seq is accounted and the high-water mark moves past it; the event stays parked at the
    branch, and once its cause is fixed it is sent again, whole, under the same id and seq."""
    return {"type": type, "size": size, "body_hash": body_hash, "reason": reason[:500]}


PAYLOAD_BUILDERS = {
    EventType.SALE_COMPLETED: sale_completed_payload,
    EventType.SALE_VOIDED: sale_voided_payload,
    EventType.RETURN_COMPLETED: return_completed_payload,
    EventType.STOCK_RECEIVED: stock_received_payload,
    EventType.STOCK_COUNTED: stock_counted_payload,
    EventType.STOCK_ADJUSTED: stock_adjusted_payload,
    EventType.STOCK_SNAPSHOT: stock_snapshot_payload,
    EventType.CASH_SESSION_OPENED: cash_session_opened_payload,
    EventType.CASH_MOVED: cash_moved_payload,
    EventType.CASH_SESSION_CLOSED: cash_session_closed_payload,
    EventType.EVENT_UNDELIVERABLE: event_undeliverable_payload,
}


# ----------------------------------------------------------------------------------------------------------------
# Payload parsers: what central reads from each type
# ----------------------------------------------------------------------------------------------------------------


class Rejection(Exception):
    """An event central can never apply (``code``: ``invalid_payload``, ``unknown_sku``, ...): answered in
    ``rejected``, so the branch parks it and delivers the rest."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def decimal_read(
    value, what: str, *, digits: tuple[int, int] = QUANTITY_DIGITS, positive: bool = False, allow_negative: bool = False
) -> Decimal:
    """A quantity (or, with ``digits=MONEY_DIGITS``, an amount) of a payload, in the one strict format of
    ecomarket/quantities.py, which every builder here writes; used for the change feed's payloads too."""
    try:
        number = decimal_parse(value, digits=digits)
    except NumberFormatError as error:
        raise Rejection("invalid_payload", f"{what} must be a decimal string: {error}") from None
    if positive and number <= 0:
        raise Rejection("invalid_payload", f"{what} must be positive")
    if not allow_negative and number < 0:
        raise Rejection("invalid_payload", f"{what} must not be negative")
    return number + 0  # "-0.000" is zero


def _lines(payload: dict, known: set[str], key: str, **rules) -> list[tuple[str, Decimal]]:
    lines = payload.get("lines")
    if not isinstance(lines, list):
        raise Rejection("invalid_payload", "payload.lines must be a list")
    result = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict) or not isinstance(line.get("sku"), str):
            raise Rejection("invalid_payload", f"payload.lines[{index}] needs a sku")
        if line["sku"] not in known:
            raise Rejection("unknown_sku", f"payload.lines[{index}].sku {line['sku']!r} is not in the catalog")
        result.append((line["sku"], decimal_read(line.get(key), f"payload.lines[{index}].{key}", **rules)))
    return result


def lines_sum(pairs) -> dict[str, Decimal]:
    """(sku, quantity) pairs summed per SKU."""
    deltas: dict[str, Decimal] = {}
    for sku, quantity in pairs:
        deltas[sku] = deltas.get(sku, Decimal("0")) + quantity
    return deltas


def _uuid_field(payload: dict, key: str, *, nullable: bool = False) -> uuid.UUID | None:
    value = payload.get(key)
    if value is None and nullable:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Rejection("invalid_payload", f"payload.{key} must be a UUID") from None


CUSTOMER_FIELDS = {"name": 120, "phone": 30, "email": 254}


def _customer_check(payload: dict) -> None:
    """The optional contact of an oversold sale's customer (schema 1 events without it stay valid)."""
    customer = payload.get("customer")
    if customer is None:
        return
    if not isinstance(customer, dict) or not customer.keys() <= CUSTOMER_FIELDS.keys() or not customer:
        raise Rejection("invalid_payload", f"payload.customer must be an object of {', '.join(CUSTOMER_FIELDS)}")
    for key, value in customer.items():
        if not isinstance(value, str) or not 0 < len(value) <= CUSTOMER_FIELDS[key]:
            raise Rejection("invalid_payload", f"payload.customer.{key} must be a non-empty string")


def _money_check(payload: dict) -> None:
    """A sale's amounts, held to the format its quantities are (older centrals never read them, so a branch never
    had reason to write them otherwise: every builder writes :func:`money_text`)."""
    if "total" in payload:
        decimal_read(payload["total"], "payload.total", digits=MONEY_DIGITS)
    for index, line in enumerate(payload_lines(payload)):
        if "unit_price" in line:
            decimal_read(line["unit_price"], f"payload.lines[{index}].unit_price", digits=MONEY_DIGITS)
        _line_extras_check(line, index)


def _line_extras_check(line: dict, index: int) -> None:
    """A sale line's optional pricing fields (:func:`sale_line_extras`): the three amounts together and adding up,
    a promotion's id, the scale labels as a list of digit strings."""
    amounts = [key for key in ("line_total", "gross", "discount") if key in line]
    if amounts:
        if len(amounts) != 3:
            raise Rejection("invalid_payload", f"payload.lines[{index}] needs line_total, gross and discount together")
        total, gross, discount = (
            decimal_read(line[key], f"payload.lines[{index}].{key}", digits=MONEY_DIGITS) for key in amounts
        )
        if gross - discount != total:
            raise Rejection("invalid_payload", f"payload.lines[{index}].line_total must be gross less discount")
        if "markdown_discount" in line:
            taken = decimal_read(
                line["markdown_discount"], f"payload.lines[{index}].markdown_discount", digits=MONEY_DIGITS
            )
            if taken > discount:
                raise Rejection("invalid_payload", f"payload.lines[{index}].markdown_discount must be part of discount")
    elif "markdown_discount" in line:
        raise Rejection(
            "invalid_payload", f"payload.lines[{index}].markdown_discount needs line_total, gross, discount"
        )
    if "markdown" in line:
        _markdown_check(line["markdown"], f"payload.lines[{index}].markdown")
    if "promotion_id" in line:
        _uuid_field(line, "promotion_id")
    if "box_unit_price" in line:
        decimal_read(line["box_unit_price"], f"payload.lines[{index}].box_unit_price", digits=MONEY_DIGITS)
    if "barcodes" in line:
        labels = line["barcodes"]
        if not isinstance(labels, list) or not labels or not all(_digits(code) for code in labels):
            raise Rejection("invalid_payload", f"payload.lines[{index}].barcodes must be a list of scale labels")


def _markdown_check(markdown, where: str) -> None:
    """A markdown as :func:`markdown_payload` writes it: a percent (up to 100) or an amount, and a reason."""
    if not isinstance(markdown, dict) or len(markdown.keys() & {"percent", "amount"}) != 1:
        raise Rejection("invalid_payload", f"{where} must give a percent or an amount")
    if not markdown.keys() <= {"percent", "amount", "reason"}:
        raise Rejection("invalid_payload", f"{where} has fields other than percent or amount and reason")
    figure = "percent" if "percent" in markdown else "amount"
    value = decimal_read(markdown[figure], f"{where}.{figure}", digits=MONEY_DIGITS)
    if figure == "percent" and value > 100:
        raise Rejection("invalid_payload", f"{where}.percent must be at most 100")
    reason = markdown.get("reason")
    if not isinstance(reason, str) or not 0 < len(reason) <= MARKDOWN_REASON_MAX:
        raise Rejection("invalid_payload", f"{where}.reason must be a non-empty string")


def _digits(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isdigit()


def _change_reference_check(payload: dict) -> None:
    """The change-feed item a ``stock.adjusted`` applied, optional in schema 1 (events written before it was carried
    stay valid): a branch restored from a backup reads it back from central to know the change is applied."""
    if "change_id" not in payload and "change_digest" not in payload:
        return
    change_id, digest = payload.get("change_id"), payload.get("change_digest")
    if not isinstance(change_id, int) or isinstance(change_id, bool) or not 0 < change_id < 2**63:
        raise Rejection("invalid_payload", "payload.change_id must be a positive integer (the change feed id)")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise Rejection("invalid_payload", "payload.change_digest must be the change's sha256 digest in hex")


# The id of the document each type records, as its payload names it: the sale a sale or a void is about, the return,
# the count, the receipt. Every such id is counted once per branch, however many events carry it (docs/protocol.md).
DOCUMENT_KEYS = {
    EventType.SALE_COMPLETED: "sale_id",
    EventType.SALE_VOIDED: "sale_id",
    EventType.RETURN_COMPLETED: "return_id",
    EventType.STOCK_COUNTED: "count_id",
    EventType.STOCK_RECEIVED: "receipt_id",
    EventType.CASH_SESSION_OPENED: "session_id",
    EventType.CASH_MOVED: "movement_id",
    EventType.CASH_SESSION_CLOSED: "session_id",
}


def document_id(type_: str, payload: dict) -> uuid.UUID | None:
    """The document an event records (``DOCUMENT_KEYS``), or None: a type without one, a receipt written before it
    carried its id, a malformed value (which :func:`event_effect` rejects)."""
    key = DOCUMENT_KEYS.get(type_)
    value = payload.get(key) if key and isinstance(payload, dict) else None
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def event_effect(envelope: Envelope, known: set[str]) -> tuple[dict[str, Decimal] | None, uuid.UUID | None]:
    """What an event does to stock, as (deltas per SKU, the sale it concerns), its payload checked against its
    type; ``known``: the SKUs of the catalog it may name. ``None`` deltas: the effect depends on another event (a
    void). Raises Rejection for an event central can never apply. The effect is :data:`LINE_EFFECTS`' (or a
    count's), as :func:`payload_deltas` computes it from a payload already checked."""
    if envelope.schema != SCHEMA_VERSION:
        raise Rejection("unsupported_schema", f"schema {envelope.schema} is not supported (this central speaks 1)")
    payload, type_ = envelope.payload, envelope.type
    sale = None
    match type_:
        case EventType.SALE_COMPLETED:
            sale = _uuid_field(payload, "sale_id")
            _customer_check(payload)
            _money_check(payload)
            _till_check(payload)
            _payments_check(payload)
            if "markdown" in payload:
                _markdown_check(payload["markdown"], "payload.markdown")
            approver = payload.get("markdown_approved_by", "x")
            if not isinstance(approver, str) or not 0 < len(approver) <= 150:
                raise Rejection("invalid_payload", "payload.markdown_approved_by must be a username")
            provisional = payload.get("provisional_number", "x")
            if not isinstance(provisional, str) or not re.fullmatch(PROVISIONAL_NUMBER, provisional):
                raise Rejection("invalid_payload", "payload.provisional_number must be a provisional receipt's number")
        case EventType.SALE_VOIDED:
            _till_check(payload)
            _amounts_read(payload, "refunds")
            return None, _uuid_field(payload, "sale_id")
        case EventType.RETURN_COMPLETED:
            sale = _uuid_field(payload, "sale_id")
            branch = payload.get("sale_branch", "B")
            if not isinstance(branch, str) or not 0 < len(branch) <= 16:
                raise Rejection("invalid_payload", "payload.sale_branch must be a branch code")
            _till_check(payload)
            for index, line in enumerate(payload_lines(payload)):
                if "line_total" in line:
                    decimal_read(line["line_total"], f"payload.lines[{index}].line_total", digits=MONEY_DIGITS)
            _amounts_read(payload, "refunds")
        case EventType.CASH_SESSION_OPENED | EventType.CASH_MOVED | EventType.CASH_SESSION_CLOSED:
            _cash_check(envelope)
            return {}, None
        case EventType.STOCK_RECEIVED:
            _uuid_field(payload, "transfer_id", nullable=True)
            _uuid_field(payload, "receipt_id", nullable=True)
            receipt_differences(payload, known)
        case EventType.STOCK_COUNTED:
            counted = _lines(payload, known, "counted")
            previous = dict(_lines(payload, known, "previous", allow_negative=True))
            return _count_deltas((sku, q, previous[sku]) for sku, q in counted), None
        case EventType.STOCK_ADJUSTED:
            _change_reference_check(payload)
        case EventType.STOCK_SNAPSHOT:
            _snapshot_validate(envelope)
            return {}, None
        case EventType.EVENT_UNDELIVERABLE:
            raise Rejection(
                "undeliverable",
                f"the branch could not deliver this {str(payload.get('type'))[:40]} event "
                f"({payload.get('size')} bytes): {str(payload.get('reason'))[:500]}",
            )
        case _:
            raise Rejection("unknown_type", f"event type {type_!r} is not known")
    key, sign, rules = LINE_EFFECTS[type_]
    return lines_sum((sku, sign * q) for sku, q in _lines(payload, known, key, **rules)), sale


def _till_check(payload: dict) -> None:
    """The optional till of a sale, return or void: its register's code and its open cash session."""
    if "register" in payload and not _register_code(payload["register"]):
        raise Rejection("invalid_payload", "payload.register must be a register code (1 to 16 letters, digits, - or _)")
    if "session_id" in payload:
        _uuid_field(payload, "session_id")


def _register_code(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,16}", value) is not None


def _amounts_read(payload: dict, key: str, *, required: bool = False) -> list[tuple[str, Decimal]]:
    """A list of ``{method, amount}`` (payments, refunds, a Z report's totals): each method once, amounts not
    negative. Absent and not ``required``: an empty list."""
    if key not in payload and not required:
        return []
    items = payload.get(key)
    if not isinstance(items, list):
        raise Rejection("invalid_payload", f"payload.{key} must be a list of {{method, amount}}")
    pairs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("method"), str) or not 0 < len(item["method"]) <= 12:
            raise Rejection("invalid_payload", f"payload.{key}[{index}] needs a method")
        pairs.append(
            (item["method"], decimal_read(item.get("amount"), f"payload.{key}[{index}].amount", digits=MONEY_DIGITS))
        )
    if len({method for method, _ in pairs}) != len(pairs):
        raise Rejection("invalid_payload", f"payload.{key} names a method twice")
    return pairs


def _payments_check(payload: dict) -> None:
    """A sale's optional payments add up to its total (cash handed over beyond it went back as ``change``)."""
    if "payments" not in payload:
        return
    paid = sum((amount for _, amount in _amounts_read(payload, "payments")), Decimal("0"))
    decimal_read(payload.get("change"), "payload.change", digits=MONEY_DIGITS)
    if paid != decimal_read(payload.get("total"), "payload.total", digits=MONEY_DIGITS):
        raise Rejection("invalid_payload", "payload.payments must add up to payload.total")


def _whole(payload: dict, key: str, *, nullable: bool = False, low: int = 0, high: int = 2**62) -> int | None:
    value = payload.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Rejection("invalid_payload", f"payload.{key} must be an integer from {low}")
    return value


def _cash_check(envelope: Envelope) -> None:
    """The cash drawer's events: a session opened, cash moved in or out of it, its Z report."""
    payload, type_ = envelope.payload, envelope.type
    _uuid_field(payload, "session_id")
    if not _register_code(payload.get("register")):
        raise Rejection("invalid_payload", "payload.register must be a register code (1 to 16 letters, digits, - or _)")
    if type_ == EventType.CASH_SESSION_OPENED:
        decimal_read(payload.get("opening_float"), "payload.opening_float", digits=MONEY_DIGITS)
        return
    if type_ == EventType.CASH_MOVED:
        _uuid_field(payload, "movement_id")
        if payload.get("kind") not in ("in", "out"):
            raise Rejection("invalid_payload", "payload.kind must be in or out")
        decimal_read(payload.get("amount"), "payload.amount", digits=MONEY_DIGITS, positive=True)
        return
    _whole(payload, "z_number", low=1)
    first = _whole(payload, "first_seq", low=1)
    _whole(payload, "last_seq", low=first, high=envelope.seq - 1)
    _whole(payload, "sales_count")
    for key in ("first_sale_number", "last_sale_number"):
        _whole(payload, key, nullable=True, low=1)
    _amounts_read(payload, "sales", required=True)
    _amounts_read(payload, "refunds", required=True)
    figures = {
        key: decimal_read(payload.get(key), f"payload.{key}", digits=MONEY_DIGITS, allow_negative=key == "variance")
        for key in ("cash_in", "cash_out", "opening_float", "counted_cash", "variance")
    }
    expected = decimal_read(
        payload.get("expected_cash"), "payload.expected_cash", digits=MONEY_DIGITS, allow_negative=True
    )
    if figures["variance"] != figures["counted_cash"] - expected:
        raise Rejection("invalid_payload", "payload.variance must be counted_cash less expected_cash")


def _snapshot_validate(envelope: Envelope) -> None:
    """A snapshot is checked as strictly as any event: reconciliation reads every level of it."""
    payload = envelope.payload
    as_of = payload.get("as_of_seq")
    if not isinstance(as_of, int) or isinstance(as_of, bool) or not 0 <= as_of < envelope.seq:
        raise Rejection("invalid_payload", "payload.as_of_seq must be an integer from 0 to the snapshot's seq - 1")
    if "parts" in payload or "part" in payload:
        part, parts = payload.get("part"), payload.get("parts")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (part, parts)) or not 1 <= part <= parts:
            raise Rejection("invalid_payload", "payload.part must be an integer from 1 to payload.parts")
        if envelope.seq != as_of + part:
            raise Rejection("invalid_payload", "a snapshot's parts are the events right after its as_of_seq, in order")
    levels = payload.get("levels")
    if not isinstance(levels, list):
        raise Rejection("invalid_payload", "payload.levels must be a list")
    seen = set()
    for index, level in enumerate(levels):
        if not isinstance(level, dict) or not isinstance(level.get("sku"), str) or not level["sku"]:
            raise Rejection("invalid_payload", f"payload.levels[{index}] needs a sku")
        if level["sku"] in seen:
            raise Rejection("invalid_payload", f"payload.levels[{index}].sku {level['sku']!r} is listed twice")
        seen.add(level["sku"])
        decimal_read(level.get("on_hand"), f"payload.levels[{index}].on_hand", allow_negative=True)


def payload_lines(payload: dict) -> list[dict]:
    """A payload's lines that name a SKU, whatever else is wrong with them (what to look up in the catalog before
    :func:`event_effect` checks them)."""
    lines = payload.get("lines")
    return (
        [line for line in lines if isinstance(line, dict) and isinstance(line.get("sku"), str)]
        if isinstance(lines, list)
        else []
    )


def payload_skus(payload: dict) -> set[str]:
    """Every SKU a payload names (its lines, a receipt's differences): what to look up in the catalog first."""
    named = [*payload_lines(payload), *payload_lines({"lines": payload.get("differences")})]
    return {line["sku"] for line in named}


# ----------------------------------------------------------------------------------------------------------------
# What each type means: its stock effect and the request it answers (the branch's services, the replay of a
# restored branch, central's ingest and the chain simulator all ask here)
# ----------------------------------------------------------------------------------------------------------------

# The types whose lines move stock by one field of theirs: (that field, its sign, how it is checked). A void moves
# its sale's lines back (another event's: see payload_deltas), a count moves each SKU by counted less previous, a
# snapshot moves nothing.
LINE_EFFECTS = {
    EventType.SALE_COMPLETED: ("quantity", -1, {"positive": True}),
    EventType.RETURN_COMPLETED: ("quantity", 1, {"positive": True}),
    EventType.STOCK_RECEIVED: ("quantity", 1, {"positive": True}),
    EventType.STOCK_ADJUSTED: ("delta", 1, {"allow_negative": True}),
}


def _count_deltas(lines: Iterable[tuple[str, Decimal, Decimal]]) -> dict[str, Decimal]:
    """(sku, counted, previous): each SKU moves to what was counted; a SKU counted twice keeps its last line."""
    return {sku: counted - previous for sku, counted, previous in lines}


def payload_deltas(type_: str, payload: dict) -> dict[str, Decimal] | None:
    """The stock effect of a well-formed payload (one the branch wrote, or central stored), per SKU: what
    :func:`event_effect` computes after checking it. None for a void, whose effect is its sale's lines reversed."""
    if type_ in LINE_EFFECTS:
        key, sign, _ = LINE_EFFECTS[type_]
        return lines_sum((line["sku"], sign * Decimal(line[key])) for line in payload["lines"])
    if type_ == EventType.STOCK_COUNTED:
        return _count_deltas(
            (line["sku"], Decimal(line["counted"]), Decimal(line["previous"])) for line in payload["lines"]
        )
    return None if type_ == EventType.SALE_VOIDED else {}


def void_deltas(sale_lines: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """A void's stock effect: its sale's lines, (sku, quantity sold), back on the shelf; two lines of one SKU (two
    bags of one fruit) both go back."""
    return lines_sum(sale_lines)


def request_fingerprint(**request) -> str:
    """What makes two requests with the same id the same request: a hash of the fields that matter."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _quantities(lines: Iterable[tuple[str, Decimal]]) -> list[tuple[str, str]]:
    return sorted((sku, quantity_text(quantity)) for sku, quantity in lines)


def sale_fingerprint(
    *,
    lines: Iterable[tuple[str, Decimal]],
    payment_method: str,
    register: str = "",
    tendered: Iterable[tuple[str, Decimal]] | None = None,
    labels: Iterable[str] = (),
    markdowns: Iterable[tuple[str, dict]] = (),
    markdown: dict | None = None,
) -> str:
    """A sale request, ``lines`` as (sku, quantity) and ``labels`` the scale labels scanned as lines (as scanned:
    a retry after a price change is still the same request). What the event carries, so a till retrying a sale on a
    box restored from central gets it back (200); a customer's contact is no part of it (the event keeps one only
    for an oversold sale, and only for a while). ``tendered``: the payments as the till sent them, (method, amount
    handed over); with them the payment method is theirs. ``markdowns``: (sku, :func:`markdown_payload`) of the
    lines that asked for one, ``markdown`` the sale's own; a manager's login approving them is no part of it. A sale
    without a register, payments or markdowns has the fingerprint it always had."""
    till = {"register": register} if register else {}
    labels = sorted(labels)
    till.update({"labels": labels} if labels else {})
    markdowns = sorted(markdowns, key=lambda pair: pair[0])
    till.update({"markdowns": [[sku, item] for sku, item in markdowns]} if markdowns else {})
    till.update({"markdown": markdown} if markdown else {})
    if tendered is not None:
        return request_fingerprint(lines=_quantities(lines), tendered=sorted(_amounts(tendered), key=str), **till)
    return request_fingerprint(lines=_quantities(lines), payment_method=payment_method, **till)


def sale_tendered(payload: dict) -> list[tuple[str, Decimal]] | None:
    """What the till handed over for a sale, from its payload: its payments, with the change back on the cash one;
    None for a sale paid by ``payment_method`` alone."""
    if "payments" not in payload:
        return None
    change = Decimal(payload.get("change", "0"))
    return [
        (item["method"], Decimal(item["amount"]) + (change if item["method"] == CASH else 0))
        for item in payload["payments"]
    ] + ([(CASH, change)] if change and CASH not in {item["method"] for item in payload["payments"]} else [])


CASH = "cash"  # the one payment method that may exceed what it pays: the drawer gives change


def sale_payments(payload: dict) -> list[tuple[str, Decimal]]:
    """What a sale kept by method: its payments, or its whole total by ``payment_method``."""
    if "payments" in payload:
        return [(item["method"], Decimal(item["amount"])) for item in payload["payments"]]
    return [(payload.get("payment_method", CASH), Decimal(payload["total"]))]


def cash_fingerprint(*, kind: str, **fields) -> str:
    """A cash drawer request (a session opened, cash moved, a close): the fields that make it the same request."""
    return request_fingerprint(kind=f"cash.{kind}", **{key: str(value) for key, value in fields.items()})


def return_fingerprint(*, sale_id, lines: Iterable[tuple[str, Decimal]]) -> str:
    return request_fingerprint(sale_id=str(sale_id), lines=_quantities(lines))


def receipt_fingerprint(*, transfer_id, lines: list[dict], differences: list[dict] | None = None) -> str:
    """``lines`` and ``differences``: as the payload writes them (:func:`stock_received_payload`). A receipt
    without differences keeps the fingerprint it had before they were carried."""
    extra = {"differences": differences} if differences else {}
    return request_fingerprint(kind="receipt", transfer_id=str(transfer_id or ""), lines=lines, **extra)


def count_fingerprint(*, counted: Iterable[tuple[str, Decimal]]) -> str:
    return request_fingerprint(kind="count", lines=_quantities(counted))


def payload_fingerprint(type_: str, payload: dict) -> str | None:
    """The fingerprint of the request that wrote this payload, as its service computed it (None for a type that
    records no document of its own)."""
    lines = payload.get("lines", [])
    match type_:
        case EventType.SALE_COMPLETED:
            return sale_fingerprint(
                lines=((line["sku"], Decimal(line["quantity"])) for line in lines if "barcodes" not in line),
                labels=[code for line in lines for code in line.get("barcodes", ())],
                payment_method=payload.get("payment_method", "cash"),
                register=payload.get("register", ""),
                tendered=sale_tendered(payload),
                markdowns=[(line["sku"], line["markdown"]) for line in lines if "markdown" in line],
                markdown=payload.get("markdown"),
            )
        case EventType.RETURN_COMPLETED:
            return return_fingerprint(
                sale_id=payload["sale_id"], lines=((line["sku"], Decimal(line["quantity"])) for line in lines)
            )
        case EventType.STOCK_RECEIVED:
            return receipt_fingerprint(
                transfer_id=payload.get("transfer_id"), lines=lines, differences=payload.get("differences")
            )
        case EventType.STOCK_COUNTED:
            return count_fingerprint(counted=((line["sku"], Decimal(line["counted"])) for line in lines))
        case EventType.CASH_SESSION_OPENED:
            return cash_fingerprint(
                kind="open", register=payload["register"], opening_float=Decimal(payload["opening_float"])
            )
        case EventType.CASH_MOVED:
            return cash_fingerprint(
                kind="move",
                session=payload["session_id"],
                direction=payload["kind"],
                amount=Decimal(payload["amount"]),
                reason=payload["reason"],
            )
        case EventType.CASH_SESSION_CLOSED:
            return cash_fingerprint(kind="close", counted=Decimal(payload["counted_cash"]))
    return None


# ----------------------------------------------------------------------------------------------------------------
# The change feed (head office to branch)
# ----------------------------------------------------------------------------------------------------------------


def price_change_payload(
    *, price_id: uuid.UUID, sku: str, price: Decimal, effective_at: datetime, created_at: datetime
) -> dict:
    """A ``price`` change: ``sku`` costs ``price`` from ``effective_at`` on (sent ahead of time; each branch switches
    by its own clock). ``created_at`` breaks a tie between two schedules with the same ``effective_at``."""
    return {
        "price_id": str(price_id),
        "sku": sku,
        "price": money_text(price),
        "effective_at": effective_at.isoformat(),
        "created_at": created_at.isoformat(),
    }


PROMOTION_KINDS = ("percent", "price", "multibuy", "nth_percent")


def promotion_change_payload(
    *,
    promotion_id: uuid.UUID,
    name: str,
    kind: str,
    skus: list[str],
    starts_at: datetime,
    ends_at: datetime,
    percent: Decimal | None = None,
    price: Decimal | None = None,
    buy: int | None = None,
    pay: int | None = None,
) -> dict:
    """A ``promotion`` change: the promotion as it now stands (the same id again replaces it, e.g. ended early).
    Only the figures its kind uses are written."""
    return {
        "promotion_id": str(promotion_id),
        "name": name,
        "kind": kind,
        "skus": sorted(skus),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        **({"percent": money_text(percent)} if percent is not None else {}),
        **({"price": money_text(price)} if price is not None else {}),
        **({"buy": buy} if buy is not None else {}),
        **({"pay": pay} if pay is not None else {}),
    }


def _time_read(payload: dict, key: str) -> datetime:
    value = parse_datetime(payload[key]) if isinstance(payload.get(key), str) else None
    if value is None or value.tzinfo is None:
        raise Rejection("invalid_payload", f"payload.{key} must be an ISO 8601 time with an offset")
    return value


def price_change_read(payload: dict) -> dict:
    """A ``price`` change's payload checked and read: the fields of pricing.ScheduledPrice."""
    if not isinstance(payload.get("sku"), str) or not payload["sku"]:
        raise Rejection("invalid_payload", "payload.sku must be a SKU")
    return {
        "id": _uuid_field(payload, "price_id"),
        "product_id": payload["sku"],
        "price": decimal_read(payload.get("price"), "payload.price", digits=MONEY_DIGITS),
        "effective_at": _time_read(payload, "effective_at"),
        "created_at": _time_read(payload, "created_at"),
    }


def promotion_change_read(payload: dict) -> dict:
    """A ``promotion`` change's payload checked and read: the fields of pricing.Promotion."""
    kind, skus = payload.get("kind"), payload.get("skus")
    if kind not in PROMOTION_KINDS:
        raise Rejection("invalid_payload", f"payload.kind must be one of {', '.join(PROMOTION_KINDS)}")
    if not isinstance(skus, list) or not skus or not all(isinstance(sku, str) and sku for sku in skus):
        raise Rejection("invalid_payload", "payload.skus must be a non-empty list of SKUs")
    fields = {
        "id": _uuid_field(payload, "promotion_id"),
        "name": str(payload.get("name", ""))[:120],
        "kind": kind,
        "skus": skus,
        "starts_at": _time_read(payload, "starts_at"),
        "ends_at": _time_read(payload, "ends_at"),
        "percent": None,
        "price": None,
        "buy": None,
        "pay": None,
    }
    if fields["ends_at"] <= fields["starts_at"]:
        raise Rejection("invalid_payload", "payload.ends_at must be after payload.starts_at")
    if kind in ("percent", "nth_percent"):
        fields["percent"] = decimal_read(payload.get("percent"), "payload.percent", digits=(3, 2), positive=True)
        if fields["percent"] > 100:
            raise Rejection("invalid_payload", "payload.percent must be at most 100")
    if kind == "price":
        fields["price"] = decimal_read(payload.get("price"), "payload.price", digits=MONEY_DIGITS)
    if kind in ("multibuy", "nth_percent"):
        fields["buy"] = _whole(payload, "buy", low=2, high=1000)
    if kind == "multibuy":
        fields["pay"] = _whole(payload, "pay", low=1, high=fields["buy"] - 1)
    return fields


QUICK_KEYS_MAX = 48  # a till's screen of buttons


def quick_keys_change_payload(*, branch: str, skus: list[str]) -> dict:
    """A ``quick_keys`` change: the till's quick keys for ``branch`` (empty: every branch without its own), the
    SKUs in button order. The whole layout each time: the same change applied twice leaves the same buttons."""
    return {"branch": branch, "skus": list(skus)}


def quick_keys_change_read(payload: dict) -> tuple[str, list[str]]:
    """A ``quick_keys`` change's payload checked and read: (branch, SKUs in order)."""
    branch, skus = payload.get("branch"), payload.get("skus")
    if not isinstance(branch, str) or len(branch) > 16:
        raise Rejection("invalid_payload", "payload.branch must be a branch code or empty")
    if (
        not isinstance(skus, list)
        or len(skus) > QUICK_KEYS_MAX
        or not all(isinstance(sku, str) and sku for sku in skus)
        or len(set(skus)) != len(skus)
    ):
        raise Rejection("invalid_payload", f"payload.skus must be at most {QUICK_KEYS_MAX} distinct SKUs")
    return branch, skus


def change_digest(body: dict) -> str:
    """What tells one change from another under the same id: a central restored from a backup hands out again the
    ids it lost. Both ends compute it from the body the feed sends."""
    content = {key: body.get(key) for key in ("id", "kind", "payload", "created_at")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
