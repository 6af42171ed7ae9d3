from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches.credentials import branch_credential_revoke, branch_register
from branches.models import (
    AppliedChange,
    Branch,
    BranchChangeFailure,
    BranchEvent,
    Change,
    EventProblem,
    FailedChange,
    IncomingTransfer,
    OutboxEvent,
    ReplayFailure,
    SyncState,
    Transfer,
)
from ecomarket.admin import ReadOnlyAdmin


class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "type", "occurred_at", "state", "attempts", "last_attempt_at", "last_error"]
    list_filter = ["state", "type"]
    search_fields = ["=seq", "=id"]
    actions = ["push_now", "retry_parked"]

    @admin.action(description=gettext_lazy("Push now (all pending events, ignoring backoff)"))
    def push_now(self, request, queryset):
        from branches.push import outbox_push

        summary = outbox_push(force=True)
        level = messages.ERROR if summary.error else messages.SUCCESS
        self.message_user(
            request,
            _("Sent %(sent)s, delivered %(delivered)s, parked %(parked)s")
            % {"sent": summary.sent, "delivered": summary.delivered, "parked": summary.parked}
            + (_("; central unavailable: %(error)s") % {"error": summary.error} if summary.error else "")
            + (f"; {summary.skipped}" if summary.skipped else ""),
            level,
        )

    @admin.action(description=gettext_lazy("Re-send parked events (after fixing their cause)"))
    def retry_parked(self, request, queryset):
        from branches.push import parked_events_retry

        self.message_user(
            request, _("Parked events queued again: %(count)s.") % {"count": parked_events_retry()}, messages.SUCCESS
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SyncStateAdmin(ReadOnlyAdmin):
    list_display = [
        "last_push_ok_at",
        "push_failures",
        "push_refusals",
        "next_push_at",
        "last_push_error",
        "last_pull_at",
        "pull_cursor",
        "recovery_state",
        "recovery_done_seq",
        "recovery_target_seq",
        "recovery_error",
    ]


class ReplayFailureAdmin(ReadOnlyAdmin):
    list_display = ["seq", "type", "code", "detail", "failed_at"]
    list_filter = ["code", "type"]
    search_fields = ["=seq", "=event_id"]


class IncomingTransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "state", "sent_at", "received_at", "note"]
    list_filter = ["state"]


class AppliedChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "applied_at"]
    list_filter = ["kind"]


class FailedChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "code", "detail", "failed_at", "attempts", "resolved_at", "reported_at"]
    list_filter = ["kind", "code"]
    actions = ["retry"]

    @admin.action(description=gettext_lazy("Apply again (after fixing their cause)"))
    def retry(self, request, queryset):
        from branches.change_apply import failed_changes_retry

        self.message_user(
            request, _("Failed changes applied now: %(count)s.") % {"count": failed_changes_retry()}, messages.SUCCESS
        )


class BranchAdmin(admin.ModelAdmin):
    """A person edits a branch's name only. Everything else is the link's bookkeeping, which ingestion, pulls and
    the credential services write under the row's lock or by named field while the form stands open: posting the
    form back must never write what the page showed when it was opened."""

    list_display = [
        "code",
        "name",
        "last_seen_at",
        "high_water_seq",
        "max_seq_seen",
        "events_missing",
        "duplicates_absorbed",
        "software_version",
        "revoked_at",
    ]
    # Not even the credential's hash is shown: the page says whether one is in force. "Rotate" (or `register_branch`)
    # shows a new one once, the old one working for BRANCH_CREDENTIAL_GRACE_S more; "Revoke" stops both at once.
    exclude = ["credential_hash", "previous_credential_hash"]
    actions = ["credential_rotate", "credential_revoke"]
    readonly_fields = [
        "credential",
        "credential_issued_at",
        "previous_credential_valid_until",
        "revoked_at",
        "last_seen_at",
        "high_water_seq",
        "max_seq_seen",
        "duplicates_absorbed",
        "pending_reported",
        "ingest_mark",
        "feed_applied_cursor",
        "software_version",
        "clock_skew_s",
        "created_at",
    ]
    search_fields = ["code", "name"]

    @admin.action(description=gettext_lazy("Rotate the credential (shown once; the old one works for a grace period)"))
    def credential_rotate(self, request, queryset):
        issued = []
        for branch in queryset:
            branch, credential = branch_register(code=branch.code)
            issued.append((branch, credential))
            self.log_change(request, branch, "Rotated the credential")
        context = {**self.admin_site.each_context(request), "title": _("New branch credentials"), "issued": issued}
        return TemplateResponse(request, "admin/branch_credentials_issued.html", context)

    @admin.action(description=gettext_lazy("Revoke the credential (at once)"))
    def credential_revoke(self, request, queryset):
        for branch in queryset:
            branch_credential_revoke(code=branch.code)
            self.log_change(request, branch, "Revoked the credential")
        self.message_user(request, _("Credentials revoked: %(count)s.") % {"count": queryset.count()}, messages.SUCCESS)

    @admin.display(description=gettext_lazy("credential"))
    def credential(self, obj) -> str:
        if obj.revoked_at:
            return _("revoked")
        return _("issued") if obj.credential_hash else _("none")

    @admin.display(description=gettext_lazy("lag (events)"))
    def events_missing(self, branch) -> int:
        return branch.lag

    def get_readonly_fields(self, request, obj=None):
        # The code is the branch's identity (its events, its credential): set once, when the branch is added.
        return [*self.readonly_fields, "code"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the person changed, by name: a plain save() would write every field as read at the post.
            obj.save(update_fields=[name for name in form.changed_data if name in form.base_fields])
        else:
            obj.save()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BranchEventAdmin(ReadOnlyAdmin):
    list_display = ["branch", "seq", "type", "occurred_at", "received_at", "applied"]
    list_filter = ["branch", "type", "applied"]
    search_fields = ["=seq", "=id", "=sale_ref"]


class EventProblemAdmin(ReadOnlyAdmin):
    list_display = ["branch", "seq", "kind", "code", "detail", "times_seen", "last_seen_at"]
    list_filter = ["kind", "branch", "code"]


class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "branch", "created_at"]
    list_filter = ["kind", "branch"]


class BranchChangeFailureAdmin(ReadOnlyAdmin):
    list_display = ["branch", "change_id", "kind", "code", "detail", "failed_at", "resolved_at", "reported_at"]
    list_filter = ["branch", "kind", "code"]


class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "to_branch", "state", "created_at", "received_at", "created_by", "note"]
    list_filter = ["state", "to_branch"]


if settings.IS_BRANCH:
    for model, model_admin in [
        (OutboxEvent, OutboxEventAdmin),
        (SyncState, SyncStateAdmin),
        (ReplayFailure, ReplayFailureAdmin),
        (IncomingTransfer, IncomingTransferAdmin),
        (AppliedChange, AppliedChangeAdmin),
        (FailedChange, FailedChangeAdmin),
    ]:
        admin.site.register(model, model_admin)
else:
    for model, model_admin in [
        (Branch, BranchAdmin),
        (BranchEvent, BranchEventAdmin),
        (EventProblem, EventProblemAdmin),
        (Change, ChangeAdmin),
        (Transfer, TransferAdmin),
        (BranchChangeFailure, BranchChangeFailureAdmin),
    ]:
        admin.site.register(model, model_admin)
