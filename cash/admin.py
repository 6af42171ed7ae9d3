from django.contrib import admin

from cash.models import CashMovement, CashSession, DayClose, Register, SessionRecord


@admin.register(Register)
class RegisterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "active", "last_z_number"]
    readonly_fields = ["last_z_number"]

    def get_readonly_fields(self, request, obj=None):
        # The code is what sales, sessions and head office know the till by: it never changes once made.
        return ["code", "last_z_number"] if obj else ["last_z_number"]


class CashMovementInline(admin.TabularInline):
    model = CashMovement
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "amount", "reason", "recorded_by", "created_at"]
    fields = readonly_fields


@admin.register(CashSession)
class CashSessionAdmin(admin.ModelAdmin):
    """Sessions are written by the drawer's services only (each with its event to head office): read-only here."""

    list_display = ["register", "status", "opened_at", "opening_float", "closed_at", "z_number", "counted_cash"]
    list_filter = ["status", "register"]
    inlines = [CashMovementInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DayClose)
class DayCloseAdmin(CashSessionAdmin):
    list_display = ["day", "closed_at", "closed_by"]
    list_filter = []
    inlines = []


@admin.register(SessionRecord)
class SessionRecordAdmin(CashSessionAdmin):
    list_display = ["branch", "register", "z_number", "opened_at", "closed_at", "variance", "verdict"]
    list_filter = ["verdict", "branch"]
    inlines = []
