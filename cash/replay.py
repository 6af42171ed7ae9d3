"""Branch mode: a restored box's drawer rebuilt from its own events as central stored them.

branches/recovery.py replays each event this box lacks, in seq order, with its original id and seq: inventory/
replay.py writes its stock and its documents, and this module what it says about the drawer: the registers and
sessions opened, cash moved in or out, how each sale was paid and where, what each return or void paid back and from
which drawer, each close with its Z (the register's Z number follows it). The rows are those the services wrote at
the time, fingerprints included, so a till retrying a request after the restore gets the same answer. No outbox
event is appended: the caller records central's event as delivered in the same transaction.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model

from branches.protocol import EventType, cash_fingerprint, sale_payments
from cash.models import CashMovement, CashSession, Refund, RefundKind, Register, SaleTender, SessionStatus
from ecomarket.modes import Mode, only
from ecomarket.quantities import money_text
from inventory.models import Sale


@only(Mode.BRANCH)
def cash_event_replay(*, seq: int, type: str, occurred_at: datetime, payload: dict) -> None:
    """Replay the drawer's part of one of this branch's events, in the caller's transaction (after its stock part).
    What this box holds already (a request the till retried before the box knew it was restored) is left as it is;
    a close whose session is not here raises LookupError, which the caller records as an event not replayed."""
    replay = _REPLAYS.get(type)
    if replay is not None:
        replay(seq=seq, occurred_at=occurred_at, payload=payload)


def _user(username: str):
    return get_user_model().objects.filter(username=username).first() if username else None


def _session(payload: dict) -> CashSession | None:
    session_id = payload.get("session_id")
    return CashSession.objects.filter(pk=session_id).first() if session_id else None


def _session_opened(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    if CashSession.objects.filter(pk=payload["session_id"]).exists():
        return
    # A box rebuilt from nothing knows its registers only from its events: by code, until a manager names them.
    register, _ = Register.objects.get_or_create(code=payload["register"], defaults={"name": payload["register"]})
    opening_float = Decimal(payload["opening_float"])
    CashSession.objects.create(
        id=uuid.UUID(payload["session_id"]),
        register=register,
        opening_float=opening_float,
        opened_by=_user(payload["opened_by"]),
        opened_at=occurred_at,
        open_seq=seq,
        fingerprint=cash_fingerprint(kind="open", register=register.code, opening_float=opening_float),
    )


def _cash_moved(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    if CashMovement.objects.filter(pk=payload["movement_id"]).exists():
        return
    session = CashSession.objects.get(pk=payload["session_id"])
    amount = Decimal(payload["amount"])
    CashMovement.objects.create(
        id=uuid.UUID(payload["movement_id"]),
        session=session,
        kind=payload["kind"],
        amount=amount,
        reason=payload["reason"],
        created_at=occurred_at,
        fingerprint=cash_fingerprint(
            kind="move", session=session.id, direction=payload["kind"], amount=amount, reason=payload["reason"]
        ),
    )


def _session_closed(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    session = CashSession.objects.get(pk=payload["session_id"])
    if session.status == SessionStatus.CLOSED:
        return
    z_number, counted = payload["z_number"], Decimal(payload["counted_cash"])
    Register.objects.filter(pk=session.register_id, last_z_number__lt=z_number).update(last_z_number=z_number)
    refunds = list(Refund.objects.filter(session=session).values_list("kind", flat=True))
    session.status, session.closed_at = SessionStatus.CLOSED, occurred_at
    session.closed_by, session.approved_by = _user(payload["closed_by"]), _user(payload.get("approved_by", ""))
    session.z_number, session.counted_cash = z_number, counted
    session.close_fingerprint = cash_fingerprint(kind="close", counted=counted)
    # As the close wrote it: its instants in UTC, as the database gives them back.
    session.z_report = {
        **payload,
        "opened_at": session.opened_at.astimezone(UTC).isoformat(),
        "closed_at": occurred_at.astimezone(UTC).isoformat(),
        "seq": seq,
        "voids": refunds.count(RefundKind.VOID),
        "returns": refunds.count(RefundKind.RETURN),
    }
    session.save()


def _sale_completed(*, seq: int, occurred_at: datetime, payload: dict) -> None:
    if "register" not in payload and "payments" not in payload:
        return  # rung up on no till: the sale wrote nothing in the drawer
    SaleTender.objects.update_or_create(
        sale_id=payload["sale_id"],
        defaults={
            "register": payload.get("register", ""),
            "session": _session(payload),
            "payments": [{"method": method, "amount": money_text(amount)} for method, amount in sale_payments(payload)],
            "change": Decimal(payload.get("change", "0")),
        },
    )


def _refund(kind: str, document_key: str):
    def replay(*, seq: int, occurred_at: datetime, payload: dict) -> None:
        if "refunds" not in payload or not Sale.objects.filter(pk=payload["sale_id"]).exists():
            return  # written before the drawer existed, or its sale never reached central either
        # Central's event is the one counted: it replaces a refund this box made for a request retried before it
        # knew it was restored (its document was taken back).
        Refund.objects.update_or_create(
            id=payload[document_key],
            defaults={
                "kind": kind,
                "sale_id": payload["sale_id"],
                "register": payload.get("register", ""),
                "session": _session(payload),
                # As the service wrote them (central's database may give an object's keys back in another order).
                "payments": [{"method": item["method"], "amount": item["amount"]} for item in payload["refunds"]],
                "created_at": occurred_at,
            },
        )

    return replay


_REPLAYS = {
    EventType.CASH_SESSION_OPENED: _session_opened,
    EventType.CASH_MOVED: _cash_moved,
    EventType.CASH_SESSION_CLOSED: _session_closed,
    EventType.SALE_COMPLETED: _sale_completed,
    EventType.SALE_VOIDED: _refund(RefundKind.VOID, "sale_id"),
    EventType.RETURN_COMPLETED: _refund(RefundKind.RETURN, "return_id"),
}
