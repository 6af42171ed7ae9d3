from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ecomarket.admin import ReadOnlyAdmin, ReadOnlyInline
from ecomarket.errors import DomainError
from ecomarket.pages import refusal_message
from reconciliation.actions import discrepancy_act, oversell_case_act
from reconciliation.models import CaseAction, Discrepancy, OversellCase, ReconciliationRun


class CaseActionInline(ReadOnlyInline):
    model = CaseAction
    fields = ["at", "actor", "action", "note", "data"]


def _act(modeladmin, request, queryset, act):
    done = 0
    for record in queryset:
        try:
            act(record.pk, request.user)
            done += 1
        except DomainError as refusal:
            modeladmin.message_user(request, f"{record}: {refusal_message(refusal)}", messages.WARNING)
    modeladmin.message_user(request, _("Records updated: %(count)s.") % {"count": done}, messages.SUCCESS)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "branch",
        "sku",
        "status",
        "expected",
        "actual",
        "first_detected_at",
        "last_changed_at",
    ]
    list_filter = ["status", "kind", "branch"]
    search_fields = ["sku", "=id"]
    inlines = [CaseActionInline]
    actions = ["acknowledge", "request_recount"]

    @admin.action(description=gettext_lazy("Acknowledge"))
    def acknowledge(self, request, queryset):
        _act(self, request, queryset, _discrepancy_action("acknowledge"))

    @admin.action(description=gettext_lazy("Request a recount at the branch"))
    def request_recount(self, request, queryset):
        _act(self, request, queryset, _discrepancy_action("request_recount"))


def _discrepancy_action(action: str):
    return lambda pk, user: discrepancy_act(discrepancy_id=pk, action=action, user=user)


@admin.register(OversellCase)
class OversellCaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "branch", "sku", "status", "resolution", "shortfall", "source", "created_at", "updated_at"]
    list_filter = ["status", "resolution", "branch"]
    search_fields = ["sku"]
    inlines = [CaseActionInline]
    actions = ["customer_contacted"]

    @admin.action(description=gettext_lazy("Customer contacted"))
    def customer_contacted(self, request, queryset):
        _act(self, request, queryset, lambda pk, user: oversell_case_act(case_id=pk, action="contact", user=user))


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "full", "summary"]
