"""Branch mode: the cash drawer's writes. Registers; a cash session from its opening float through cash put in or
taken out to its blind close (the Z report); and the parts of a sale, a return and a void that concern the drawer,
which inventory/services.py calls inside its own transaction.

Each session write owns its transaction (BEGIN IMMEDIATE on SQLite: the write lock from its first statement, so
"one open session per register" and the Z number read stay true until it commits), appends its event to the outbox
in it, and is idempotent on its client-chosen id (a close on its session), like the sale.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status

from branches import protocol
from branches.models import OutboxEvent, RecoveryState, SyncState
from branches.outbox import outbox_event_append
from branches.protocol import CASH, EventType
from cash import selectors
from cash.models import (
    CashMovement,
    CashSession,
    DayClose,
    Refund,
    Register,
    SaleTender,
    SessionStatus,
)
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import money, money_text
from ecomarket.roles import Role, user_has_role
from inventory.models import Sale

ZERO = Decimal("0.00")


def _username(user) -> str:
    return user.get_username() if user else ""


def _same_request(row, fingerprint: str, what: str):
    """The idempotency rule of every drawer write, as for sales: the same id with the same body is answered with
    what was stored; another body under that id is refused, never merged."""
    if row.fingerprint != fingerprint:
        raise DomainError("idempotency_conflict", f"{what} {row.pk} already exists with a different body.", status=409)
    return row


def _history_whole() -> None:
    """Refuse (409 ``recovering``) a drawer write while this box is getting its history back from central after a
    restore: a session central holds may be open or closed there already (an opening here would clash with it on
    its register, a close would take a Z number central holds), and a close's figures need every sale of its
    session. Sales go on, into a session the backup held open. Read under the caller's write lock."""
    if SyncState.objects.filter(pk=1).exclude(recovery_state=RecoveryState.IDLE).exists():
        raise DomainError(
            "recovering",
            "This store is recovering its history from head office after a restore; opening, cash in or out and "
            "closing a drawer wait until it is done (a minute or two). Try again shortly.",
            status=status.HTTP_409_CONFLICT,
        )


# ----------------------------------------------------------------------------------------------------------------
# Registers
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.BRANCH)
@transaction.atomic
def register_save(*, code: str, name: str, active: bool = True) -> tuple[Register, bool]:
    """Create a register (till), or rename / (de)activate the one with that code; ``(register, created)``. A
    register with an open session stays active: close its session first."""
    register = Register.objects.filter(pk=code).first()
    if register is None:
        return Register.objects.create(code=code, name=name, active=active), True
    if not active and register.active and selectors.session_open_get(register=code) is not None:
        raise DomainError("session_open", f"Register {code} has an open cash session; close it first.", status=409)
    register.name, register.active = name, active
    register.save(update_fields=["name", "active"])
    return register, False


def _register_get(code: str) -> Register:
    register = Register.objects.filter(pk=code, active=True).first()
    if register is None:
        raise DomainError(
            "unknown_register",
            f"No active register {code!r} at this store.",
            fields={"register": ["Unknown register."]},
        )
    return register


# ----------------------------------------------------------------------------------------------------------------
# Sessions
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.BRANCH)
def cash_session_open(
    *, session_id: uuid.UUID | None, register: str, opening_float: Decimal, user
) -> tuple[CashSession, bool]:
    """Open a cash session on ``register`` with its opening float; ``(session, created)``. One open session per
    register: another is refused with 409 ``session_open`` (naming the open one). Idempotent on ``session_id``."""
    session_id = session_id or uuid.uuid4()
    fingerprint = protocol.cash_fingerprint(kind="open", register=register, opening_float=opening_float)
    with transaction.atomic():
        existing = CashSession.objects.filter(pk=session_id).first()
        if existing is not None:
            return _same_request(existing, fingerprint, "Cash session"), False
        _history_whole()
        _register_get(register)
        open_one = selectors.session_open_get(register=register)
        if open_one is not None:
            raise DomainError(
                "session_open",
                f"Register {register} already has an open cash session; close it before opening another.",
                status=status.HTTP_409_CONFLICT,
                extra={"session_id": str(open_one.id)},
            )
        now = timezone.now()
        event = outbox_event_append(
            type=EventType.CASH_SESSION_OPENED,
            payload=protocol.cash_session_opened_payload(
                session_id=session_id, register=register, opening_float=opening_float, opened_by=_username(user)
            ),
            occurred_at=now,
        )
        session = CashSession.objects.create(
            id=session_id,
            register_id=register,
            opening_float=opening_float,
            opened_by=user,
            opened_at=now,
            open_seq=event.seq,
            fingerprint=fingerprint,
        )
    return session, True


def _session_open(session_id: uuid.UUID) -> CashSession:
    session = CashSession.objects.select_related("register").filter(pk=session_id).first()
    if session is None:
        raise DomainError("not_found", f"No cash session {session_id} at this store.", status=404)
    return session


@only(Mode.BRANCH)
def cash_movement_record(
    *, movement_id: uuid.UUID | None, session_id: uuid.UUID, kind: str, amount: Decimal, reason: str, user
) -> tuple[CashMovement, bool]:
    """Cash put in the drawer (``in``) or taken out (``out``: a pickup to the safe) of an open session;
    ``(movement, created)``. Idempotent on ``movement_id``; a closed session takes none (409 ``session_closed``)."""
    movement_id = movement_id or uuid.uuid4()
    fingerprint = protocol.cash_fingerprint(
        kind="move", session=session_id, direction=kind, amount=amount, reason=reason
    )
    with transaction.atomic():
        existing = CashMovement.objects.filter(pk=movement_id).first()
        if existing is not None:
            return _same_request(existing, fingerprint, "Cash movement"), False
        _history_whole()
        session = _session_open(session_id)
        if session.status != SessionStatus.OPEN:
            raise DomainError("session_closed", f"Cash session {session_id} is closed.", status=409)
        now = timezone.now()
        outbox_event_append(
            type=EventType.CASH_MOVED,
            payload=protocol.cash_moved_payload(
                movement_id=movement_id,
                session_id=session.id,
                register=session.register_id,
                kind=kind,
                amount=amount,
                reason=reason,
            ),
            occurred_at=now,
        )
        movement = CashMovement.objects.create(
            id=movement_id,
            session=session,
            kind=kind,
            amount=amount,
            reason=reason,
            recorded_by=user,
            created_at=now,
            fingerprint=fingerprint,
        )
    return movement, True


def manager_approving(user, approval: dict | None):
    """The manager approving what needs one (a close's variance, a markdown at the till): the user asking, if a
    manager, or the manager whose name and password came with the request (typed at the till by the manager).
    None if neither."""
    if user_has_role(user, Role.MANAGER):
        return user
    if approval:
        approver = authenticate(username=approval.get("username", ""), password=approval.get("password", ""))
        if approver is not None and user_has_role(approver, Role.MANAGER):
            return approver
    return None


@only(Mode.BRANCH)
def cash_session_close(
    *, session_id: uuid.UUID, counted_cash: Decimal, user, approval: dict | None = None
) -> tuple[CashSession, bool]:
    """The blind close: the cashier gives what the drawer holds without having seen what is expected; answers the
    session with its Z report, ``(session, created)``. The Z takes the register's next Z number (gapless: read and
    written under the write lock) and covers the session's events, from its opening to the last event before the
    close. A variance beyond CASH_VARIANCE_APPROVAL needs a manager (the user, or ``approval``'s credentials):
    without one, 409 ``approval_required`` and nothing is written. Closing again with the same count answers the
    same Z; with another count, 409."""
    fingerprint = protocol.cash_fingerprint(kind="close", counted=counted_cash)
    with transaction.atomic():
        session = _session_open(session_id)
        if session.status == SessionStatus.CLOSED:
            if session.close_fingerprint != fingerprint:
                raise DomainError(
                    "idempotency_conflict",
                    f"Cash session {session_id} was closed with another count.",
                    status=409,
                )
            return session, False
        _history_whole()
        report = selectors.session_report(session=session)
        expected = report.expected_cash
        variance = counted_cash - expected
        approver = None
        if abs(variance) > Decimal(str(settings.CASH_VARIANCE_APPROVAL)):
            approver = manager_approving(user, approval)
            if approver is None:
                # The amount is not said: the close stays blind for whoever counts again.
                raise DomainError(
                    "approval_required",
                    "The count differs from what the drawer should hold by more than this store allows without a "
                    "manager; count again, or have a manager approve the close.",
                    status=409,
                )
        register = Register.objects.get(pk=session.register_id)
        register.last_z_number += 1
        register.save(update_fields=["last_z_number"])
        now = timezone.now()
        last_seq = OutboxEvent.objects.aggregate(last=Max("seq"))["last"] or session.open_seq
        payload = protocol.cash_session_closed_payload(
            session_id=session.id,
            register=session.register_id,
            z_number=register.last_z_number,
            first_seq=session.open_seq,
            last_seq=last_seq,
            sales_count=report.sales_count,
            first_sale_number=report.first_sale_number,
            last_sale_number=report.last_sale_number,
            sales=sorted(report.sales.items()),
            refunds=sorted(report.refunds.items()),
            cash_in=report.cash_in,
            cash_out=report.cash_out,
            opening_float=session.opening_float,
            expected_cash=expected,
            counted_cash=counted_cash,
            closed_by=_username(user),
            approved_by=_username(approver),
        )
        event = outbox_event_append(type=EventType.CASH_SESSION_CLOSED, payload=payload, occurred_at=now)
        session.status, session.closed_at, session.closed_by, session.approved_by = (
            SessionStatus.CLOSED,
            now,
            user,
            approver,
        )
        session.z_number, session.counted_cash, session.close_fingerprint = (
            register.last_z_number,
            counted_cash,
            fingerprint,
        )
        session.z_report = {
            **payload,
            "opened_at": session.opened_at.isoformat(),
            "closed_at": now.isoformat(),
            "seq": event.seq,
            "voids": report.voids,
            "returns": report.returns,
        }
        session.save()
    return session, True


@only(Mode.BRANCH)
@transaction.atomic
def cash_day_close(*, day, user) -> tuple[DayClose, bool]:
    """Close the store's business day (``day`` in the store's time zone): only once every register's session is
    closed (409 ``registers_open`` naming them), with the day's totals over the sessions opened that day.
    Idempotent: closing the day again answers the close made first."""
    existing = DayClose.objects.filter(pk=day).first()
    if existing is not None:
        return existing, False
    still_open = sorted(CashSession.objects.filter(status=SessionStatus.OPEN).values_list("register_id", flat=True))
    if still_open:
        raise DomainError(
            "registers_open",
            f"Close every register first; still open: {', '.join(still_open)}.",
            status=409,
            extra={"registers": still_open},
        )
    close = DayClose.objects.create(
        day=day, closed_at=timezone.now(), closed_by=user, totals=selectors.day_totals(day=day)
    )
    return close, True


# ----------------------------------------------------------------------------------------------------------------
# A sale's payments, a return's or void's refund (inside inventory's transaction)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Till:
    """Where a sale, return or void was rung up: its register ("" for none) and that register's open session."""

    register: str = ""
    session: CashSession | None = None


def till_resolve(*, register: str, required: bool) -> Till:
    """The till a write names, read under the caller's write lock. ``required`` (a register the request named,
    where CASH_SESSIONS_REQUIRED is on): a register without an open session is refused with 409
    ``no_open_session``, since nothing rung up there could be accounted to a drawer."""
    if not register:
        return Till()
    _register_get(register)
    session = selectors.session_open_get(register=register)
    if session is None and required and settings.CASH_SESSIONS_REQUIRED:
        raise DomainError(
            "no_open_session",
            f"Register {register} has no open cash session; open one (with its float) first.",
            status=status.HTTP_409_CONFLICT,
            extra={"register": register},
        )
    return Till(register=register, session=session)


def payments_settle(
    *, total: Decimal, tendered: list[tuple[str, Decimal]]
) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """What a sale keeps by method from what was handed over, and the change: the payments must cover the total,
    and only cash may go beyond it (the drawer gives the rest back). A cash payment the change uses up is dropped."""
    paid = sum((amount for _, amount in tendered), ZERO)
    change = paid - total
    cash = sum((amount for method, amount in tendered if method == CASH), ZERO)
    if change < 0:
        raise DomainError(
            "payments_short",
            f"The payments add up to {money_text(paid)}, less than the total {money_text(total)}.",
            fields={"payments": ["Must add up to the total."]},
        )
    if change > cash:
        raise DomainError(
            "payments_exceed_total",
            f"The payments add up to {money_text(paid)}, more than the total {money_text(total)}; only cash may "
            "exceed it (the change comes from the drawer).",
            fields={"payments": ["Only cash may exceed the total."]},
        )
    kept = [(method, amount - change if method == CASH else amount) for method, amount in tendered]
    return [(method, amount) for method, amount in kept if amount > 0], change


def sale_tender_record(
    *, sale: Sale, till: Till, payments: list[tuple[str, Decimal]] | None, change: Decimal
) -> SaleTender:
    """How ``sale`` was paid and where; ``payments`` None: in full by its payment method."""
    tender = SaleTender(
        sale=sale,
        register=till.register,
        session=till.session,
        payments=[
            {"method": method, "amount": money_text(amount)}
            for method, amount in (payments if payments is not None else [(sale.payment_method, sale.total)])
        ],
        change=change,
    )
    tender.save(force_insert=True)
    return tender


def refund_record(*, refund_id: uuid.UUID, kind: str, sale: Sale, amount: Decimal, register: str) -> tuple[Till, list]:
    """Pay back ``amount`` of ``sale`` by the methods it was paid with, less what earlier refunds of it paid back:
    other methods first, in the order paid (a card payment goes back to the card), cash last. From the drawer of
    the open session on ``register`` (the request's; without one, the sale's own register's, if it is still open).
    Returns the till and the refunds as (method, amount)."""
    tender = SaleTender.objects.filter(sale=sale).first()
    if register:
        till = till_resolve(register=register, required=True)
    elif tender is not None and tender.register:
        session = selectors.session_open_get(register=tender.register)
        till = Till(register=tender.register, session=session) if session else Till()
    else:
        till = Till()
    kept = (
        [(p["method"], Decimal(p["amount"])) for p in tender.payments]
        if tender
        else [(sale.payment_method, sale.total)]
    )
    paid_back: dict[str, Decimal] = {}
    for earlier in Refund.objects.filter(sale=sale):
        for item in earlier.payments:
            paid_back[item["method"]] = paid_back.get(item["method"], ZERO) + Decimal(item["amount"])
    order = [pair for pair in kept if pair[0] != CASH] + [pair for pair in kept if pair[0] == CASH]
    left, refunds = money(amount), []
    for method, paid in order:
        share = min(left, paid - paid_back.get(method, ZERO))
        if share > 0:
            refunds.append((method, share))
            left -= share
    if left > 0:  # a partial return's rounding beyond what was paid: the drawer pays the cent
        cash_back = dict(refunds).get(CASH, ZERO)
        refunds = [(method, value) for method, value in refunds if method != CASH] + [(CASH, cash_back + left)]
    Refund.objects.create(
        id=refund_id,
        kind=kind,
        sale=sale,
        register=till.register,
        session=till.session,
        payments=[{"method": method, "amount": money_text(value)} for method, value in refunds],
        created_at=timezone.now(),
    )
    return till, refunds
