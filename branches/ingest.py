"""Central side: storing branch events exactly once (DESIGN.md §3 invariant 3, §4, §5).

One request is one transaction that holds its branch's row lock, so two pushes of the same branch are applied one
after the other while different branches ingest in parallel. Every event of the request is classified:

- new: stored, and its stock effect written to central's ledger with the event's seq;
- duplicate: the same id with the same body is already stored (a resend) — counted, nothing written;
- conflict: the id (or the seq) is already stored with another body — recorded in EventProblem, never merged;
- rejected: it can never be applied (unknown SKU, bad payload) — recorded in EventProblem and answered, so the
  branch parks it and keeps delivering the rest.

Everything computed from the events is a sum over them, so the result does not depend on arrival order. The one
effect that needs another event, a void's reversal of its sale's lines, waits (``applied=False``) until the sale
arrives.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from branches.models import Branch, BranchEvent, EventProblem, Transfer
from ecomarket import metrics
from ecomarket.db import rows_insert
from inventory.ledger import stock_ledger_write
from inventory.models import MovementKind, Product, StockMovement

MAX_BATCH = 500
MAX_MISSING_REPORTED = 1000
SCHEMA_VERSION = 1
QUANTUM = Decimal("0.001")
LIMIT = Decimal("1e9")


class EnvelopeError(ValueError):
    """The request itself is malformed: nothing of it is stored (400)."""


class Rejection(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class IngestResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    high_water_seq: int = 0
    missing_seqs: list[int] = field(default_factory=list)

    def body(self) -> dict:
        return {
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "high_water_seq": self.high_water_seq,
            "missing_seqs": self.missing_seqs,
        }


def body_hash(event: dict) -> str:
    return hashlib.sha256(json.dumps(event, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------


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
        raise EnvelopeError(f"events[{index}].branch must be {branch!r}")
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


def _decimal(value, what: str, *, positive: bool = False, allow_negative: bool = False) -> Decimal:
    try:
        number = Decimal(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or abs(number) >= LIMIT or number != number.quantize(QUANTUM):
        raise Rejection("invalid_payload", f"{what} must be a decimal string with at most 3 decimals")
    if positive and number <= 0:
        raise Rejection("invalid_payload", f"{what} must be positive")
    if not allow_negative and number < 0:
        raise Rejection("invalid_payload", f"{what} must not be negative")
    return number


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
        result.append((line["sku"], _decimal(line.get(key), f"payload.lines[{index}].{key}", **rules)))
    return result


def _sum(pairs) -> dict[str, Decimal]:
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


def event_effect(envelope: Envelope, known: set[str]) -> tuple[dict[str, Decimal] | None, uuid.UUID | None]:
    """What an event does to stock, as (deltas per SKU, the sale it concerns). ``None`` deltas: the effect depends
    on another event (a void). Raises Rejection for an event central can never apply."""
    if envelope.schema != SCHEMA_VERSION:
        raise Rejection("unsupported_schema", f"schema {envelope.schema} is not supported (this central speaks 1)")
    payload = envelope.payload
    match envelope.type:
        case "sale.completed":
            sale = _uuid_field(payload, "sale_id")
            _customer_check(payload)
            return _sum((sku, -q) for sku, q in _lines(payload, known, "quantity", positive=True)), sale
        case "sale.voided":
            return None, _uuid_field(payload, "sale_id")
        case "return.completed":
            _uuid_field(payload, "sale_id")
            return _sum(_lines(payload, known, "quantity", positive=True)), _uuid_field(payload, "sale_id")
        case "stock.received":
            _uuid_field(payload, "transfer_id", nullable=True)
            return _sum(_lines(payload, known, "quantity", positive=True)), None
        case "stock.counted":
            counted = dict(_lines(payload, known, "counted"))
            previous = dict(_lines(payload, known, "previous", allow_negative=True))
            return {sku: counted[sku] - previous[sku] for sku in counted}, None
        case "stock.adjusted":
            _change_reference_check(payload)
            return _sum(_lines(payload, known, "delta", allow_negative=True)), None
        case "stock.snapshot":
            _snapshot_validate(envelope)
            return {}, None
    raise Rejection("unknown_type", f"event type {envelope.type!r} is not known")


def _snapshot_validate(envelope: Envelope) -> None:
    """A snapshot is checked as strictly as any event: reconciliation reads every level of it."""
    payload = envelope.payload
    as_of = payload.get("as_of_seq")
    if not isinstance(as_of, int) or isinstance(as_of, bool) or not 0 <= as_of < envelope.seq:
        raise Rejection("invalid_payload", "payload.as_of_seq must be an integer from 0 to the snapshot's seq - 1")
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
        _decimal(level.get("on_hand"), f"payload.levels[{index}].on_hand", allow_negative=True)


KIND_OF = {
    "sale.completed": MovementKind.SALE,
    "sale.voided": MovementKind.VOID,
    "return.completed": MovementKind.RETURN,
    "stock.received": MovementKind.RECEIPT,
    "stock.counted": MovementKind.COUNT,
    "stock.adjusted": MovementKind.ADJUSTMENT,
}


# ----------------------------------------------------------------------------------------------------------------
# Ingestion
# ----------------------------------------------------------------------------------------------------------------


@metrics.ingest_instrumented  # events by outcome, batch duration, one log line per batch
def events_ingest(*, branch: Branch, events: list, pending_reported: int | None = None) -> IngestResult:
    """Store a batch of one branch's events exactly once and answer what became of each (see module docstring).
    Idempotent: the same batch again changes nothing but the duplicate counter. Central mode."""
    if not isinstance(events, list) or not 0 < len(events) <= MAX_BATCH:
        raise EnvelopeError(f"events must be a list of 1 to {MAX_BATCH} events")
    envelopes = [envelope_parse(raw, branch=branch.code, index=i) for i, raw in enumerate(events)]
    now = timezone.now()
    result = IngestResult()
    with transaction.atomic():
        branch = Branch.objects.select_for_update().get(pk=branch.pk)
        ids = [envelope.id for envelope in envelopes]
        by_id = {event.id: event for event in BranchEvent.objects.filter(id__in=ids).only("id", "branch", "body_hash")}
        taken_seqs = set(
            BranchEvent.objects.filter(branch=branch, seq__in=[e.seq for e in envelopes]).values_list("seq", flat=True)
        )
        known = set(
            Product.objects.filter(
                sku__in={line.get("sku") for e in envelopes for line in _raw_lines(e.payload)}
            ).values_list("sku", flat=True)
        )
        transfers = _transfers_named(envelopes)
        new: list[tuple[Envelope, dict | None, uuid.UUID | None]] = []
        problems: list[tuple[Envelope, str, str, str]] = []
        batch_ids: dict[uuid.UUID, str] = {}
        for envelope in envelopes:
            stored = by_id.get(envelope.id)
            if stored is not None or envelope.id in batch_ids:
                same = (
                    (stored.branch_id == branch.code and stored.body_hash == envelope.hash)
                    if stored
                    else (batch_ids[envelope.id] == envelope.hash)
                )
                if same:
                    result.duplicates.append(str(envelope.id))
                else:
                    result.conflicts.append(str(envelope.id))
                    problems.append(
                        (envelope, EventProblem.Kind.CONFLICT, "id_conflict", "id stored with another body")
                    )
                continue
            if envelope.seq in taken_seqs:
                result.conflicts.append(str(envelope.id))
                problems.append((envelope, EventProblem.Kind.CONFLICT, "seq_conflict", "seq stored with another id"))
                continue
            try:
                deltas, sale_ref = event_effect(envelope, known)
                _receipt_check(envelope, deltas, branch=branch, transfers=transfers)
            except Rejection as rejection:
                result.rejected.append({"id": str(envelope.id), "code": rejection.code, "detail": rejection.detail})
                problems.append((envelope, EventProblem.Kind.REJECTED, rejection.code, rejection.detail))
                continue
            batch_ids[envelope.id] = envelope.hash
            taken_seqs.add(envelope.seq)
            new.append((envelope, deltas, sale_ref))
            result.accepted.append(str(envelope.id))

        if new:
            # The mark is taken under the branch's row lock, so one branch's marks commit in increasing order: a
            # pass that read mark m under the same lock has seen every event with a mark up to m, and an
            # incremental pass that looks at "mark > m" skips nothing (received_at, read before the lock, could).
            branch.ingest_mark += 1
        _store(branch=branch, new=new, now=now)
        _problems_record(branch=branch, problems=problems, now=now)
        result.missing_seqs = _watermark_advance(branch=branch, seqs=[e.seq for e in envelopes], now=now)
        branch.duplicates_absorbed = F("duplicates_absorbed") + len(result.duplicates)
        fields = ["high_water_seq", "max_seq_seen", "last_seen_at", "duplicates_absorbed", "ingest_mark"]
        if pending_reported is not None:
            branch.pending_reported = pending_reported
            fields.append("pending_reported")
        branch.save(update_fields=fields)
        branch.refresh_from_db(fields=["duplicates_absorbed"])
        result.high_water_seq = branch.high_water_seq
    return result


def _transfers_named(envelopes: list[Envelope]) -> dict[uuid.UUID, Transfer]:
    ids = set()
    for envelope in envelopes:
        if envelope.type == "stock.received" and envelope.payload.get("transfer_id"):
            try:
                ids.add(uuid.UUID(str(envelope.payload["transfer_id"])))
            except ValueError:
                continue  # event_effect rejects it
    return Transfer.objects.in_bulk(ids) if ids else {}


def _receipt_check(envelope: Envelope, deltas, *, branch: Branch, transfers: dict) -> None:
    """A transfer is received once, by its own branch, with its own lines: any other receipt of it is rejected,
    never counted twice. A transfer central does not know (lost in a restore of central) is a plain receipt."""
    if envelope.type != "stock.received" or not envelope.payload.get("transfer_id"):
        return
    transfer = transfers.get(uuid.UUID(str(envelope.payload["transfer_id"])))
    if transfer is None:
        return
    if transfer.to_branch_id != branch.code:
        raise Rejection("wrong_transfer", f"transfer {transfer.id} was sent to {transfer.to_branch_id}")
    if transfer.state == Transfer.State.RECEIVED:
        raise Rejection("transfer_already_received", f"transfer {transfer.id} was already received")
    if deltas != _sum((line["sku"], Decimal(line["quantity"])) for line in transfer.lines):
        raise Rejection("transfer_lines_mismatch", f"transfer {transfer.id} sent other lines: {transfer.lines}")
    transfer.state = Transfer.State.RECEIVED  # a second receipt in the same batch is rejected too


def _raw_lines(payload: dict) -> list[dict]:
    lines = payload.get("lines")
    return (
        [line for line in lines if isinstance(line, dict) and isinstance(line.get("sku"), str)]
        if isinstance(lines, list)
        else []
    )


def _store(*, branch: Branch, new: list, now: datetime) -> None:
    """Insert the new events and write their ledger rows; apply voids whose sale is (now) known."""
    rows_insert(
        BranchEvent,
        [
            BranchEvent(
                id=envelope.id,
                branch=branch,
                seq=envelope.seq,
                type=envelope.type,
                occurred_at=envelope.occurred_at,
                schema=envelope.schema,
                payload=envelope.payload,
                body_hash=envelope.hash,
                received_at=now,
                ingest_mark=branch.ingest_mark,
                sale_ref=sale_ref,
                applied=deltas is not None,
            )
            for envelope, deltas, sale_ref in new
        ],
    )
    movements = [
        _movement(branch.code, envelope.seq, envelope.type, envelope.occurred_at, str(envelope.id), sku, delta)
        for envelope, deltas, _ in new
        if deltas
        for sku, delta in deltas.items()
        if delta
    ]
    movements += _voids_apply(branch=branch, new=new)
    stock_ledger_write(movements=movements)
    received = [
        envelope.payload["transfer_id"]
        for envelope, _, _ in new
        if envelope.type == "stock.received" and envelope.payload.get("transfer_id")
    ]
    if received:
        Transfer.objects.filter(id__in=received, to_branch=branch).update(
            state=Transfer.State.RECEIVED, received_at=now
        )


def _movement(branch, seq, type_, occurred_at, reference, sku, delta) -> StockMovement:
    return StockMovement(
        branch=branch,
        product_id=sku,
        quantity=delta,
        kind=KIND_OF[type_],
        reference=reference,
        occurred_at=occurred_at,
        seq=seq,
    )


def _voids_apply(*, branch: Branch, new: list) -> list[StockMovement]:
    """Voids whose sale is stored get their reversal now, whichever of the two arrived first."""
    new_sales = [sale_ref for envelope, _, sale_ref in new if envelope.type == "sale.completed"]
    new_voids = [sale_ref for envelope, _, sale_ref in new if envelope.type == "sale.voided"]
    if not new_sales and not new_voids:
        return []
    # Voids still waiting for their sale are few (a void normally follows its sale): read them all through their
    # partial index and match in Python, instead of binding the batch's 500 sale ids into the query.
    wanted = set(new_sales + new_voids)
    waiting = [
        void
        for void in BranchEvent.objects.filter(branch=branch, type="sale.voided", applied=False)
        if void.sale_ref in wanted
    ]
    if not waiting:
        return []
    sales = {
        event.sale_ref: event
        for event in BranchEvent.objects.filter(
            branch=branch, type="sale.completed", sale_ref__in=[void.sale_ref for void in waiting]
        )
    }
    movements, applied = [], []
    for void in waiting:
        sale = sales.get(void.sale_ref)
        if sale is None:
            continue
        for sku, quantity in _sum((line["sku"], Decimal(line["quantity"])) for line in sale.payload["lines"]).items():
            movements.append(_movement(branch.code, void.seq, void.type, void.occurred_at, str(void.id), sku, quantity))
        applied.append(void.id)
    BranchEvent.objects.filter(id__in=applied).update(applied=True)
    return movements


def _problems_record(*, branch: Branch, problems: list, now: datetime) -> None:
    for envelope, kind, code, detail in problems:
        problem, created = EventProblem.objects.get_or_create(
            branch=branch,
            event_id=envelope.id,
            body_hash=envelope.hash,
            defaults={
                "seq": envelope.seq,
                "kind": kind,
                "code": code,
                "detail": detail,
                "body": envelope.raw,
                "first_seen_at": now,
                "last_seen_at": now,
            },
        )
        if not created:
            EventProblem.objects.filter(pk=problem.pk).update(
                times_seen=F("times_seen") + 1, last_seen_at=now, code=code, detail=detail
            )


def accounted_seqs(branch: Branch, above: int) -> set[int]:
    """Seqs above ``above`` that central holds: stored, or recorded as rejected (a known hole, not a missing one)."""
    stored = BranchEvent.objects.filter(branch=branch, seq__gt=above).values_list("seq", flat=True)
    rejected = EventProblem.objects.filter(branch=branch, kind=EventProblem.Kind.REJECTED, seq__gt=above).values_list(
        "seq", flat=True
    )
    return set(stored) | set(rejected)


def _watermark_advance(*, branch: Branch, seqs: list[int], now: datetime) -> list[int]:
    """Move the branch's high-water mark over every seq now accounted for and return the seqs still missing below
    the highest seq seen (at most MAX_MISSING_REPORTED of them)."""
    branch.last_seen_at = now
    branch.max_seq_seen = max([branch.max_seq_seen, *seqs])
    if branch.max_seq_seen <= branch.high_water_seq:
        return []
    accounted = accounted_seqs(branch, branch.high_water_seq)
    while branch.high_water_seq + 1 in accounted:
        branch.high_water_seq += 1
    missing = []
    for seq in range(branch.high_water_seq + 1, branch.max_seq_seen + 1):
        if seq not in accounted:
            missing.append(seq)
            if len(missing) == MAX_MISSING_REPORTED:
                break
    return missing
