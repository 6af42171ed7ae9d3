"""Central page: a manager resolves an over-return case from the dashboard.

Branch pages: another store's sale, found by its printed number in the chain's index of recent sales, and a
return of it taken here (the same input serializer and service as the API)."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from chain.models import ChainBranchName, OverReturnCase, OverReturnStatus
from chain.sale_index import returned_so_far, sale_index_find
from ecomarket.pages import form_decimal, role_required
from ecomarket.roles import Role
from inventory import selectors, services
from inventory.models import Product, Sale
from inventory.serializers import ReturnCreateInputSerializer, service_lines

# The staff pages' own form helpers: one way a page turns a refusal into a message.
from inventory.views import _done as service_done
from inventory.views import _form_valid as form_checked


@require_http_methods(["GET", "POST"])
@role_required(Role.CASHIER)
def chain_sale_detail(request, branch: str, number: int):
    entry = sale_index_find(branch=branch, number=number) if branch != settings.BRANCH_CODE else None
    if entry is None:
        raise Http404("no such sale in the chain's index")
    if request.method == "POST":
        lines = [
            {"sku": sku, "quantity": form_decimal(request.POST.get(f"return-{sku}", ""))}
            for sku, *_ in entry.lines
            if request.POST.get(f"return-{sku}", "").strip() not in ("", "0")
        ]
        if not lines:
            messages.error(request, _("Enter the quantity coming back for at least one line."))
            return redirect("page-chain-sale", branch=branch, number=number)
        body = {
            "id": request.POST.get("id"),
            "sale_id": str(entry.id),
            "lines": lines,
            "reason": request.POST.get("reason", ""),
        }
        data = form_checked(request, ReturnCreateInputSerializer, body)
        done = {}
        if data is not None and service_done(
            request,
            lambda: done.update(
                ret=services.return_create(
                    return_id=data["id"],
                    sale_id=data["sale_id"],
                    lines=service_lines(data["lines"]),
                    reason=data["reason"],
                    cashier=request.user,
                )[0]
            ),
        ):
            messages.success(request, _("Return recorded for sale %(number)s: stock updated.") % {"number": number})
            return redirect("page-return-slip", return_id=done["ret"].id)
        return redirect("page-chain-sale", branch=branch, number=number)
    names = dict(Product.objects.filter(sku__in=[line[0] for line in entry.lines]).values_list("sku", "name"))
    # What other stores took back as head office last knew it, and what this store took back itself.
    copy = Sale.objects.filter(pk=entry.id).first()
    back = returned_so_far(sale_id=entry.id, here=selectors.sale_returned(sale=copy) if copy else {})
    rows = []
    for sku, quantity, unit_price, line_total in entry.lines:
        rows.append(
            {
                "sku": sku,
                "name": names.get(sku, sku),
                "quantity": Decimal(quantity),
                "unit_price": Decimal(unit_price),
                "line_total": Decimal(line_total),
                "returned": back.get(sku, Decimal("0")),
                "returnable": Decimal(quantity) - back.get(sku, Decimal("0")),
            }
        )
    context = {
        "entry": entry,
        "store": ChainBranchName.objects.filter(code=branch).values_list("name", flat=True).first() or branch,
        "lines": rows,
        "copy": copy,
        "return_id": uuid.uuid4(),
    }
    return render(request, "chain/sale_detail.html", context)


@require_POST
@role_required(Role.MANAGER)
def over_return_resolve(request, case_id: int):
    """Resolve an over-return case with a note (what was done about the goods and money returned twice). Central."""
    note = request.POST.get("note", "").strip()[:1000]
    if not note:
        messages.error(request, _("Say what was done in the note."))
    elif (
        OverReturnCase.objects.filter(pk=case_id)
        .exclude(status=OverReturnStatus.RESOLVED)
        .update(
            status=OverReturnStatus.RESOLVED, note=f"{request.user.get_username()}: {note}", updated_at=timezone.now()
        )
    ):
        messages.success(request, _("Over-return case %(id)s resolved.") % {"id": case_id})
    return redirect("dashboard")
