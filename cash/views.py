"""Branch mode: the cash drawer's staff pages. Plain forms that validate with the API's own input serializers and
call the same services (inventory/views.py's way). The close form is blind: it never shows what the drawer should
hold; only a manager's page shows the X report's expected cash."""

import uuid

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework import serializers

from cash import selectors, services
from cash.models import CashSession, Register, SessionStatus
from cash.serializers import (
    CashMovementInputSerializer,
    CashSessionCloseInputSerializer,
    CashSessionOpenInputSerializer,
    RegisterSerializer,
)
from ecomarket.errors import DomainError
from ecomarket.pages import form_decimal, form_problems, refusal_message, role_required
from ecomarket.roles import Role, user_has_role
from inventory.models import PaymentMethod


def _submitted(request, serializer_class, body: dict, write) -> bool:
    """The API's validation and service behind a form; refusals become messages in the user's language."""
    serializer = serializer_class(data=body)
    if not serializer.is_valid():
        for problem in form_problems(serializer.errors):
            messages.error(request, problem)
        return False
    try:
        write(serializer.validated_data)
    except DomainError as error:
        messages.error(request, refusal_message(error))
        return False
    except serializers.ValidationError as error:
        for problem in form_problems(error.detail):
            messages.error(request, problem)
        return False
    return True


def _shown(report: dict) -> dict:
    """A report as a page shows it: each method by its name in the reader's language, the Z's instants as dates."""
    names = dict(PaymentMethod.choices)
    shown = {
        **report,
        "by_method": [{**row, "label": names.get(row["method"], row["method"])} for row in report["by_method"]],
    }
    for key in ("opened_at", "closed_at"):
        if isinstance(report.get(key), str):
            shown[key] = parse_datetime(report[key])
    return shown


def _form_id(request) -> dict:
    """The id the form was drawn with (a form submitted twice writes once), if it came."""
    return {"id": request.POST["id"]} if request.POST.get("id") else {}


@require_http_methods(["GET", "POST"])
@role_required(Role.CASHIER)
def cash_home(request):
    manager = user_has_role(request.user, Role.MANAGER)
    if request.method == "POST" and request.POST.get("action") == "register" and manager:
        body = {"code": request.POST.get("code", ""), "name": request.POST.get("name", "")}
        if _submitted(
            request, RegisterSerializer, body, lambda d: services.register_save(code=d["code"], name=d["name"])
        ):
            messages.success(request, _("Register saved."))
        return redirect("page-cash")
    if request.method == "POST":
        body = {
            **_form_id(request),
            "register": request.POST.get("register", ""),
            "opening_float": form_decimal(request.POST.get("opening_float", "")),
        }
        opened = {}

        def write(data):
            opened["session"], _created = services.cash_session_open(
                session_id=data.get("id"),
                register=data["register"],
                opening_float=data["opening_float"],
                user=request.user,
            )

        if _submitted(request, CashSessionOpenInputSerializer, body, write):
            return redirect("page-cash-session", session_id=opened["session"].id)
        return redirect("page-cash")
    open_sessions = {s.register_id: s for s in CashSession.objects.filter(status=SessionStatus.OPEN)}
    registers = [(register, open_sessions.get(register.code)) for register in Register.objects.filter(active=True)]
    closed = CashSession.objects.filter(status=SessionStatus.CLOSED).select_related("register")[:20]
    return render(
        request,
        "cash/home.html",
        {"registers": registers, "closed": closed, "manager": manager, "open_id": uuid.uuid4()},
    )


def _session(session_id) -> CashSession:
    session = CashSession.objects.select_related("register", "opened_by").filter(pk=session_id).first()
    if session is None:
        raise Http404
    return session


@require_http_methods(["GET", "POST"])
@role_required(Role.CASHIER)
def cash_session(request, session_id):
    session = _session(session_id)
    if request.method == "POST" and request.POST.get("action") == "move":
        body = {
            **_form_id(request),
            "kind": request.POST.get("kind", ""),
            "amount": form_decimal(request.POST.get("amount", "")),
            "reason": request.POST.get("reason", ""),
        }
        if _submitted(
            request,
            CashMovementInputSerializer,
            body,
            lambda d: services.cash_movement_record(
                movement_id=d.get("id"),
                session_id=session.id,
                user=request.user,
                **{k: d[k] for k in ("kind", "amount", "reason")},
            ),
        ):
            messages.success(request, _("Cash movement recorded."))
        return redirect("page-cash-session", session_id=session.id)
    if request.method == "POST":
        body = {"counted": {"cash": form_decimal(request.POST.get("counted", ""))}}
        if request.POST.get("manager_username"):
            body["approval"] = {
                "username": request.POST["manager_username"],
                "password": request.POST.get("manager_password", ""),
            }
        if _submitted(
            request,
            CashSessionCloseInputSerializer,
            body,
            lambda d: services.cash_session_close(
                session_id=session.id, counted_cash=d["counted"]["cash"], user=request.user, approval=d.get("approval")
            ),
        ):
            return redirect("page-cash-z", session_id=session.id)
        return redirect("page-cash-session", session_id=session.id)
    if session.status == SessionStatus.CLOSED:
        return redirect("page-cash-z", session_id=session.id)
    manager = user_has_role(request.user, Role.MANAGER)
    return render(
        request,
        "cash/session.html",
        {
            "session": session,
            "movements": session.movements.all(),
            # The expected figures only for a manager: the cashier closes blind.
            "report": _shown(selectors.x_report(session=session)) if manager else None,
            "move_id": uuid.uuid4(),
        },
    )


@require_GET
@role_required(Role.CASHIER)
def cash_z(request, session_id):
    session = _session(session_id)
    if session.status != SessionStatus.CLOSED:
        return redirect("page-cash-session", session_id=session.id)
    return render(request, "cash/z.html", {"z": _shown(selectors.z_report(session=session)), "session": session})
