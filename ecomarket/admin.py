from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse

from ecomarket.auth import staff_token_issue, staff_token_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the ledger depends on: visible to managers, changed only through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class StaffUserAdmin(UserAdmin):
    """Django's user admin, with the user's API token: when it was issued and until when it works, never the token
    nor its hash. "Issue a new API token" rotates it (the old one stops working at once) and shows the new one on
    the page that answers, the only time it is visible; "Revoke" retires it. Branch credentials are rotated by
    ``register_branch`` instead."""

    actions = ["api_token_rotate", "api_token_revoke"]
    list_display = [*UserAdmin.list_display, "api_token_expires_at"]
    list_select_related = ["api_token"]
    fieldsets = [*UserAdmin.fieldsets, ("API token", {"fields": ["api_token_state"]})]
    readonly_fields = ["api_token_state"]

    @admin.display(description="API token")
    def api_token_state(self, user) -> str:
        token = getattr(user, "api_token", None)  # None: the user has no token
        if token is None:
            return "none"
        until = f"until {token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "until rotated or revoked"
        return f"issued {token.created_at:%Y-%m-%d %H:%M}, valid {until}"

    @admin.display(description="API token expires")
    def api_token_expires_at(self, user):
        token = getattr(user, "api_token", None)
        return token.expires_at if token else None

    @admin.action(description="Issue a new API token (shown once)", permissions=["change"])
    def api_token_rotate(self, request, queryset):
        issued = []
        for user in queryset:
            issued.append((user.get_username(), staff_token_issue(user=user)))
            self.log_change(request, user, "Issued a new API token")
        context = {**self.admin_site.each_context(request), "title": "New API tokens", "issued": issued}
        return TemplateResponse(request, "admin/api_tokens_issued.html", context)

    @admin.action(description="Revoke the API token", permissions=["change"])
    def api_token_revoke(self, request, queryset):
        revoked = 0
        for user in queryset:
            if staff_token_revoke(user=user):
                revoked += 1
                self.log_change(request, user, "Revoked the API token")
        self.message_user(request, f"{revoked} API token(s) revoked.", messages.SUCCESS)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), StaffUserAdmin)
