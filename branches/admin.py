from django.contrib import admin

from branches.models import OutboxEvent
from ecomarket.admin import ReadOnlyAdmin


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "type", "occurred_at", "state", "attempts", "last_attempt_at", "last_error"]
    list_filter = ["state", "type"]
    search_fields = ["=seq", "=id"]
