"""Central side: storing branch events exactly once (docs/architecture.md, invariant 3; docs/protocol.md).

One request is one transaction that holds its branch's row lock, so two pushes of the same branch are applied one
after the other while different branches ingest in parallel. Every event of the request is classified:

- new: stored, and its stock effect written to central's ledger with the event's seq;
- duplicate: the same id with the same body is already stored (a resend) — counted, nothing written;
- conflict: the id (or the seq) is already stored with another body, or the document it records (a sale, void,
  return, count or receipt id) is already stored under another event — recorded in EventProblem, never merged;
- rejected: it can never be applied (unknown SKU, bad payload) — recorded in EventProblem and answered, so the
  branch parks it and keeps delivering the rest.

Everything computed from the events is a sum over them, so the result does not depend on arrival order. The one
effect that needs another event, a void's reversal of its sale's lines, waits (``applied=False``) until the sale
arrives.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from branches.models import Branch, BranchEvent, EventProblem, Transfer
from branches.protocol import (
    DOCUMENT_KEYS,
    MAX_BATCH,
    Envelope,
    EnvelopeError,
    EventType,
    Rejection,
    document_id,
    envelope_parse,
    event_effect,
    lines_sum,
    payload_skus,
    receipt_differences,
    void_deltas,
)
from cash.records import session_records_write
from ecomarket import metrics
from ecomarket.db import rows_copy
from ecomarket.modes import Mode, only
from inventory.ledger import Movement, stock_ledger_write
from inventory.models import MovementKind, Product

MAX_MISSING_REPORTED = 1000


class _EventRow(NamedTuple):
    """An ingested event's BranchEvent row, by attname, as ``rows_copy`` writes it (no model instance per row)."""

    id: uuid.UUID
    branch_id: str
    seq: int
    type: str
    occurred_at: datetime
    schema: int
    payload: dict
    body_hash: str
    received_at: datetime
    ingest_mark: int
    sale_ref: uuid.UUID | None
    applied: bool


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


KIND_OF = {
    EventType.SALE_COMPLETED: MovementKind.SALE,
    EventType.SALE_VOIDED: MovementKind.VOID,
    EventType.RETURN_COMPLETED: MovementKind.RETURN,
    EventType.STOCK_RECEIVED: MovementKind.RECEIPT,
    EventType.STOCK_COUNTED: MovementKind.COUNT,
    EventType.STOCK_ADJUSTED: MovementKind.ADJUSTMENT,
}


# ----------------------------------------------------------------------------------------------------------------
# Ingestion
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.CENTRAL)
@metrics.ingest_instrumented  # events by outcome, batch duration, one log line per batch
def events_ingest(*, branch: Branch, events: list, pending_reported: int | None = None) -> IngestResult:
    """Store a batch of one branch's events exactly once and answer what became of each (see module docstring).
    Idempotent: the same batch again changes nothing but the duplicate counter. Raises EnvelopeError (nothing
    stored) when the request itself is malformed."""
    if not isinstance(events, list) or not 0 < len(events) <= MAX_BATCH:
        raise EnvelopeError(f"events must be a list of 1 to {MAX_BATCH} events")
    envelopes = [envelope_parse(raw, branch=branch.code, index=i) for i, raw in enumerate(events)]
    now = timezone.now()
    result = IngestResult()
    with transaction.atomic():
        branch = Branch.objects.select_for_update().get(pk=branch.pk)
        stored = _stored_read(branch=branch, envelopes=envelopes)
        known = set(
            Product.objects.filter(sku__in={sku for e in envelopes for sku in payload_skus(e.payload)}).values_list(
                "sku", flat=True
            )
        )
        transfers = _transfers_named(envelopes)
        new: list[tuple[Envelope, dict | None, uuid.UUID | None]] = []
        problems: list[tuple[Envelope, str, str, str]] = []
        batch_ids: dict[uuid.UUID, str] = {}
        taken_seqs = stored.seqs
        documents = stored.documents
        for envelope in envelopes:
            earlier = stored.by_id.get(envelope.id)
            if earlier is not None or envelope.id in batch_ids:
                same = (
                    (earlier.branch_id == branch.code and earlier.body_hash == envelope.hash)
                    if earlier
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
            document = document_id(envelope.type, envelope.payload)
            holder = documents.get((envelope.type, document)) if document else None
            if holder is not None:
                # Another event already counted this document (a till's retry that reached a restored box before
                # its replay did): counting it again would sell the goods twice.
                result.conflicts.append(str(envelope.id))
                detail = f"{DOCUMENT_KEYS[envelope.type]} {document} is stored as event {holder[0]} (seq {holder[1]})"
                problems.append((envelope, EventProblem.Kind.CONFLICT, DUPLICATE_DOCUMENT, detail))
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
            if document:
                documents[(envelope.type, document)] = (envelope.id, envelope.seq)
            new.append((envelope, deltas, sale_ref))
            result.accepted.append(str(envelope.id))

        if new:
            # The mark is taken under the branch's row lock, so one branch's marks commit in increasing order: a
            # pass that read mark m under the same lock has seen every event with a mark up to m, and an
            # incremental pass that looks at "mark > m" skips nothing (received_at, read before the lock, could).
            branch.ingest_mark += 1
        _store(branch=branch, new=new, waiting_voids=stored.waiting_voids, now=now)
        _problems_record(branch=branch, problems=problems, now=now)
        result.missing_seqs = _watermark_advance(
            branch=branch,
            seqs=[e.seq for e in envelopes],
            now_accounted={e.seq for e, _, _ in new}
            | {e.seq for e, kind, code, _ in problems if _hole_known(kind, code)},
            now=now,
        )
        fields = ["high_water_seq", "max_seq_seen", "last_seen_at", "ingest_mark"]
        if result.duplicates:
            branch.duplicates_absorbed = F("duplicates_absorbed") + len(result.duplicates)
            fields.append("duplicates_absorbed")
        if pending_reported is not None:
            branch.pending_reported = pending_reported
            fields.append("pending_reported")
        branch.save(update_fields=fields)
        result.high_water_seq = branch.high_water_seq
    return result


DUPLICATE_DOCUMENT = "duplicate_document"


def _hole_known(kind: str, code: str) -> bool:
    """A seq central will never store but knows why: a rejection, or an event refused because its document is
    stored under another event. The branch parks either, so the high-water mark moves over it."""
    return kind == EventProblem.Kind.REJECTED or code == DUPLICATE_DOCUMENT


@dataclass
class _Stored:
    """What central already holds that a batch is classified against, read in one query (two when the batch
    records returns, counts or receipts)."""

    by_id: dict[uuid.UUID, BranchEvent]  # events stored under one of the batch's ids (any branch)
    seqs: set[int]  # the branch's seqs the batch names that are taken
    waiting_voids: list[BranchEvent]  # the branch's voids still waiting for their sale
    documents: dict[tuple[str, uuid.UUID], tuple[uuid.UUID, int]]  # (type, document id) -> the (id, seq) storing it


def _stored_read(*, branch: Branch, envelopes: list[Envelope]) -> _Stored:
    """One round trip instead of three, since a push's cost is mostly its fixed part (docs/scale.md): the batch's
    ids (primary key), its seqs (the branch's unique seq index) and the branch's waiting voids (their partial
    index, normally empty: a void follows its sale) are OR'ed, and PostgreSQL answers them with one bitmap scan
    over the three indexes."""
    ids = {envelope.id for envelope in envelopes}
    seqs = {envelope.seq for envelope in envelopes}
    named: dict[str, set[uuid.UUID]] = {}  # type -> the documents the batch records
    for envelope in envelopes:
        document = document_id(envelope.type, envelope.payload)
        if document:
            named.setdefault(envelope.type, set()).add(document)
    sales = {EventType.SALE_COMPLETED, EventType.SALE_VOIDED}
    # A sale's and a void's document is their sale_ref (the branch's sale_ref index), so they join the one query.
    sold = named.get(EventType.SALE_COMPLETED, set()) | named.get(EventType.SALE_VOIDED, set())
    rows = BranchEvent.objects.filter(
        Q(id__in=ids)
        | Q(branch=branch, seq__in=seqs)
        | Q(branch=branch, applied=False, type=EventType.SALE_VOIDED)
        | Q(branch=branch, type__in=sales, sale_ref__in=sold)
    ).only("id", "branch", "seq", "body_hash", "type", "applied", "sale_ref", "occurred_at")
    stored = _Stored(by_id={}, seqs=set(), waiting_voids=[], documents={})
    for row in rows:
        if row.id in ids:
            stored.by_id[row.id] = row
        if row.branch_id == branch.code:
            if row.seq in seqs:
                stored.seqs.add(row.seq)
            if row.type == EventType.SALE_VOIDED and not row.applied:
                stored.waiting_voids.append(row)
            if row.type in sales and row.sale_ref in named.get(row.type, ()):
                stored.documents[(row.type, row.sale_ref)] = (row.id, row.seq)
    # Returns, counts and receipts are a few a day per store: their ids are read from the payload of the branch's
    # events of that type, and only when the batch records one.
    for type_, documents in named.items():
        if type_ in sales:
            continue
        key = DOCUMENT_KEYS[type_]
        for event_id, seq, value in BranchEvent.objects.filter(
            branch=branch, type=type_, **{f"payload__{key}__in": [str(document) for document in documents]}
        ).values_list("id", "seq", f"payload__{key}"):
            stored.documents[(type_, uuid.UUID(str(value)))] = (event_id, seq)
    return stored


def _transfers_named(envelopes: list[Envelope]) -> dict[uuid.UUID, Transfer]:
    ids = set()
    for envelope in envelopes:
        if envelope.type == EventType.STOCK_RECEIVED and envelope.payload.get("transfer_id"):
            try:
                ids.add(uuid.UUID(str(envelope.payload["transfer_id"])))
            except ValueError:
                continue  # event_effect rejects it
    return Transfer.objects.in_bulk(ids) if ids else {}


def _receipt_check(envelope: Envelope, deltas, *, branch: Branch, transfers: dict) -> None:
    """A transfer is received once, by its own branch, with its own lines: any other receipt of it is rejected,
    never counted twice. A transfer central does not know (lost in a restore of central) is a plain receipt."""
    if envelope.type != EventType.STOCK_RECEIVED or not envelope.payload.get("transfer_id"):
        return
    transfer = transfers.get(uuid.UUID(str(envelope.payload["transfer_id"])))
    if transfer is None:
        return
    if transfer.to_branch_id != branch.code:
        raise Rejection("wrong_transfer", f"transfer {transfer.id} was sent to {transfer.to_branch_id}")
    if transfer.state == Transfer.State.RECEIVED:
        raise Rejection("transfer_already_received", f"transfer {transfer.id} was already received")
    accounted = lines_sum(
        [*deltas.items()] + [(sku, short + damaged) for sku, short, damaged in receipt_differences(envelope.payload)]
    )
    if accounted != lines_sum((line["sku"], Decimal(line["quantity"])) for line in transfer.lines):
        raise Rejection(
            "transfer_lines_mismatch",
            f"transfer {transfer.id} sent other lines (received, short and damaged): {transfer.lines}",
        )
    transfer.state = Transfer.State.RECEIVED  # a second receipt in the same batch is rejected too


def _store(*, branch: Branch, new: list, waiting_voids: list[BranchEvent], now: datetime) -> None:
    """Insert the new events and write their ledger rows; apply voids whose sale is (now) known."""
    rows_copy(
        BranchEvent,
        _EventRow._fields,
        [
            _EventRow(
                id=envelope.id,
                branch_id=branch.code,
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
    movements += _voids_apply(branch=branch, new=new, waiting_voids=waiting_voids)
    stock_ledger_write(movements=movements)
    session_records_write(branch=branch, envelopes=[envelope for envelope, _, _ in new])
    received = [
        envelope.payload
        for envelope, _, _ in new
        if envelope.type == EventType.STOCK_RECEIVED and envelope.payload.get("transfer_id")
    ]
    if received:
        Transfer.objects.filter(id__in=[payload["transfer_id"] for payload in received], to_branch=branch).update(
            state=Transfer.State.RECEIVED, received_at=now
        )
    for payload in received:  # what did not reach the shelf, for head office to follow up (rare: one by one)
        if payload.get("differences"):
            Transfer.objects.filter(id=payload["transfer_id"], to_branch=branch).update(
                differences=payload["differences"]
            )


def _movement(branch, seq, type_, occurred_at, reference, sku, delta) -> Movement:
    return Movement(branch, sku, delta, KIND_OF[type_], reference, occurred_at, seq)


def _voids_apply(*, branch: Branch, new: list, waiting_voids: list[BranchEvent]) -> list[Movement]:
    """Voids whose sale is stored get their reversal now, whichever of the two arrived first. ``waiting_voids``:
    the branch's voids stored earlier without their sale; the batch's own new voids wait too until matched here."""
    new_sales = {sale_ref: envelope for envelope, _, sale_ref in new if envelope.type == EventType.SALE_COMPLETED}
    waiting = [
        *[void for void in waiting_voids if void.sale_ref in new_sales],
        *[
            BranchEvent(
                id=envelope.id,
                seq=envelope.seq,
                type=envelope.type,
                occurred_at=envelope.occurred_at,
                sale_ref=sale_ref,
            )
            for envelope, _, sale_ref in new
            if envelope.type == EventType.SALE_VOIDED
        ],
    ]
    if not waiting:
        return []
    sale_lines = {sale_ref: envelope.payload["lines"] for sale_ref, envelope in new_sales.items()}
    earlier = [void.sale_ref for void in waiting if void.sale_ref not in sale_lines]
    if earlier:
        sale_lines |= {
            sale_ref: payload["lines"]
            for sale_ref, payload in BranchEvent.objects.filter(
                branch=branch, type=EventType.SALE_COMPLETED, sale_ref__in=earlier
            ).values_list("sale_ref", "payload")
        }
    movements, applied = [], []
    for void in waiting:
        lines = sale_lines.get(void.sale_ref)
        if lines is None:
            continue
        for sku, quantity in void_deltas((line["sku"], Decimal(line["quantity"])) for line in lines).items():
            movements.append(_movement(branch.code, void.seq, void.type, void.occurred_at, str(void.id), sku, quantity))
        applied.append(void.id)
    if applied:
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
    """Seqs above ``above`` that central holds: stored, or recorded as a known hole (:func:`_hole_known`), not a
    missing one."""
    stored = BranchEvent.objects.filter(branch=branch, seq__gt=above).values_list("seq", flat=True)
    rejected = EventProblem.objects.filter(
        Q(kind=EventProblem.Kind.REJECTED) | Q(code=DUPLICATE_DOCUMENT), branch=branch, seq__gt=above
    ).values_list("seq", flat=True)
    return set(stored) | set(rejected)


def _watermark_advance(*, branch: Branch, seqs: list[int], now_accounted: set[int], now: datetime) -> list[int]:
    """Move the branch's high-water mark over every seq now accounted for and return the seqs still missing below
    the highest seq seen (at most MAX_MISSING_REPORTED of them). ``now_accounted``: the seqs this batch stored or
    rejected. When nothing above the mark was held before the batch (the usual case: a branch delivers in order),
    those are all central holds above it, and no query is needed."""
    held_above_mark = branch.max_seq_seen > branch.high_water_seq
    branch.last_seen_at = now
    branch.max_seq_seen = max([branch.max_seq_seen, *seqs])
    if branch.max_seq_seen <= branch.high_water_seq:
        return []
    accounted = accounted_seqs(branch, branch.high_water_seq) if held_above_mark else now_accounted
    while branch.high_water_seq + 1 in accounted:
        branch.high_water_seq += 1
    missing = []
    for seq in range(branch.high_water_seq + 1, branch.max_seq_seen + 1):
        if seq not in accounted:
            missing.append(seq)
            if len(missing) == MAX_MISSING_REPORTED:
                break
    return missing
