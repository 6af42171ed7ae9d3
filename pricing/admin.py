from django.contrib import admin

from pricing.models import Promotion, ScheduledPrice


# Read-only: a schedule or a promotion reaches the branches only through its service (the API), which announces it
# in the change feed; a row saved here would stay at head office alone.
class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScheduledPrice)
class ScheduledPriceAdmin(_ReadOnly):
    list_display = ["product", "price", "effective_at", "created_by", "created_at"]
    search_fields = ["product__sku"]


@admin.register(Promotion)
class PromotionAdmin(_ReadOnly):
    list_display = ["name", "kind", "starts_at", "ends_at", "percent", "price", "buy", "pay"]
