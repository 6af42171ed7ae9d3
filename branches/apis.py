"""The sync API, of both sides. Central side: event ingestion, the change feed and the catalog for the branches,
head office's catalog and transfer writes that feed them. Branch side: the sync status (docs/architecture.md)."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from branches import change_feed, ingest, selectors
from branches.credentials import (
    BranchCredentialAuthentication,
    IsBranch,
    branch_clock_skew_record,
    branch_version_record,
)
from branches.models import Branch
from branches.protocol import CLOCK_HEADER, MAX_BATCH, QUICK_KEYS_MAX, EnvelopeError, clock_skew
from branches.sync_status import sync_status
from ecomarket.api import ERRORS, input_valid, whole_number
from ecomarket.errors import DomainError
from ecomarket.roles import IsCashier, IsManager
from ecomarket.version import VERSION_HEADER, version_reported
from inventory.models import Product
from inventory.serializers import (
    LineInputSerializer,
    ProductCreateInputSerializer,
    ProductSaveInputSerializer,
    distinct_skus,
)

# A malformed envelope refuses the whole request: 400, or 403 for an event that speaks for another branch.
ENVELOPE_ERROR_STATUS = {
    EnvelopeError.INVALID_EVENT: status.HTTP_400_BAD_REQUEST,
    EnvelopeError.WRONG_BRANCH: status.HTTP_403_FORBIDDEN,
}


class BranchOnlyApi(APIView):
    """Endpoints a branch server calls with its credential (``Authorization: Branch <credential>``)."""

    authentication_classes = [BranchCredentialAuthentication]
    permission_classes = [IsBranch]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated: request.auth is the calling branch
        branch_version_record(branch=request.auth, version=version_reported(request.headers.get(VERSION_HEADER)))

    @staticmethod
    def calling_branch(request, code: str) -> Branch:
        """The branch whose credential called, which must be the one the body names."""
        branch: Branch = request.auth
        if code != branch.code:
            raise DomainError(
                "wrong_branch",
                f"This credential belongs to {branch.code}; it cannot speak for {code}.",
                status=status.HTTP_403_FORBIDDEN,
            )
        return branch


class SyncEventsApi(BranchOnlyApi):
    class SyncEventsInputSerializer(serializers.Serializer):
        branch = serializers.CharField(max_length=16)
        events = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_BATCH)

    class SyncEventsOutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        conflicts = serializers.ListField(child=serializers.UUIDField())
        rejected = serializers.ListField(child=serializers.DictField())
        high_water_seq = serializers.IntegerField()
        missing_seqs = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="sync_events_ingest",
        request=SyncEventsInputSerializer,
        responses={200: SyncEventsOutputSerializer, **ERRORS},
        description="Store up to 500 events of the calling branch exactly once. Every event is committed before "
        "this answers.",
    )
    def post(self, request):
        # The envelope of each event is checked by events_ingest; validating 500 events through DRF fields first
        # (which copies every dict) would cost more than storing them, so only the outer shape is checked here.
        data = request.data
        if not isinstance(data, dict) or not isinstance(data.get("branch"), str) or "events" not in data:
            raise DomainError(
                "invalid", 'The body must be {"branch": code, "events": [...]}.', fields={"events": ["Required."]}
            )
        branch = self.calling_branch(request, data["branch"])
        branch_clock_skew_record(
            branch=branch, skew_s=clock_skew(request.headers.get(CLOCK_HEADER), arrived=timezone.now())
        )
        try:
            result = ingest.events_ingest(
                branch=branch,
                events=request.data["events"],
                pending_reported=whole_number(request.headers.get("X-Outbox-Pending"), digits=12),
            )
        except EnvelopeError as error:
            raise DomainError(error.code, str(error), status=ENVELOPE_ERROR_STATUS[error.code]) from error
        return Response(result.body())

    class SyncEventsPageSerializer(serializers.Serializer):
        events = serializers.ListField(child=serializers.DictField())
        next_after = serializers.IntegerField()
        more = serializers.BooleanField()
        high_water_seq = serializers.IntegerField()
        max_seq_seen = serializers.IntegerField()
        last_sale_number = serializers.IntegerField()

    @extend_schema(
        operation_id="sync_events_fetch",
        parameters=[
            OpenApiParameter("after", int, description="return events with a seq above this (0 for all)"),
            OpenApiParameter("limit", int, description=f"page size, at most {selectors.EVENTS_PAGE}"),
        ],
        responses={200: SyncEventsPageSerializer, **ERRORS},
        description="The calling branch's own stored events after a seq, oldest first, for a branch restored from a "
        "backup or rebuilt from nothing: it replays them with their original ids, seqs and sale numbers. Page on "
        "with after=next_after while more is true.",
    )
    def get(self, request):
        after = whole_number(request.query_params.get("after", "0"))
        limit = whole_number(request.query_params.get("limit", str(selectors.EVENTS_PAGE)), digits=6)
        if after is None or limit is None or not 0 < limit <= selectors.EVENTS_PAGE:
            raise DomainError(
                "invalid",
                f"after must be a non-negative integer seq and limit 1 to {selectors.EVENTS_PAGE}.",
                fields={"after": ["Invalid."]} if after is None else {"limit": ["Invalid."]},
            )
        return Response(selectors.branch_events_page(branch=request.auth, after=after, limit=limit))


class SyncChangesApi(BranchOnlyApi):
    class SyncChangesOutputSerializer(serializers.Serializer):
        changes = serializers.ListField(child=serializers.DictField())
        next_cursor = serializers.IntegerField()
        newest_id = serializers.IntegerField()
        resync = serializers.ChoiceField(choices=["cursor_ahead", "cursor_changed"], allow_null=True)

    @extend_schema(
        operation_id="sync_changes",
        parameters=[
            OpenApiParameter("since", int, description="the cursor from the previous answer (0 at first)"),
            OpenApiParameter(
                "digest", str, description="the digest of the change the cursor names, as the branch applied it"
            ),
        ],
        responses={200: SyncChangesOutputSerializer, **ERRORS},
        description="The changes after the cursor. ``resync`` is ``cursor_ahead`` or ``cursor_changed`` when the "
        "cursor names no change central holds (central was restored from a backup): pull again from 0.",
    )
    def get(self, request):
        cursor = whole_number(request.query_params.get("since", "0"))
        if cursor is None:
            raise DomainError("invalid", "since must be a non-negative integer cursor.", fields={"since": ["Invalid."]})
        digest = request.query_params.get("digest", "")[:64]
        page = change_feed.changes_page(branch=request.auth, cursor=cursor, digest=digest)
        if page["resync"] is None:  # a cursor central does not hold says nothing about what was applied
            change_feed.feed_applied_record(branch=request.auth, cursor=cursor)
        return Response(page)


class FailedChangeInputSerializer(serializers.Serializer):
    change_id = serializers.IntegerField(min_value=1)
    kind = serializers.CharField(max_length=16)
    code = serializers.CharField(max_length=40)
    detail = serializers.CharField(max_length=2000, allow_blank=True)
    failed_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class FailedChangesReportApi(BranchOnlyApi):
    class FailedChangesReportInputSerializer(serializers.Serializer):
        branch = serializers.CharField(max_length=16)
        failures = FailedChangeInputSerializer(many=True, allow_empty=False, max_length=500)

    @extend_schema(
        operation_id="sync_failed_changes_report",
        request=FailedChangesReportInputSerializer,
        responses={200: inline_serializer("FailedChangesRecorded", {"recorded": serializers.IntegerField()}), **ERRORS},
        description="A branch reports change-feed items it could not apply (and those it applied after all).",
    )
    def post(self, request):
        data = input_valid(self.FailedChangesReportInputSerializer, request)
        branch = self.calling_branch(request, data["branch"])
        return Response({"recorded": change_feed.change_failures_record(branch=branch, failures=data["failures"])})


class SyncCatalogApi(BranchOnlyApi):
    class SyncCatalogOutputSerializer(serializers.Serializer):
        products = serializers.ListField(child=serializers.DictField())
        next_after = serializers.CharField()
        more = serializers.BooleanField()
        newest_change_id = serializers.IntegerField()
        feed_applied_cursor = serializers.IntegerField(allow_null=True)

    @extend_schema(
        operation_id="sync_catalog",
        parameters=[OpenApiParameter("after", str, description="return products with a SKU after this ('' first)")],
        responses={200: SyncCatalogOutputSerializer, **ERRORS},
        description="The whole catalog as it stands, by SKU, for a branch rebuilt from nothing (each product as a "
        "`product` change carries it), the change feed's newest id, and `feed_applied_cursor`: how far this "
        "branch applied the feed, as its pulls said (null if it never pulled). A rebuilt box pulls from there.",
    )
    def get(self, request):
        after = request.query_params.get("after", "")
        if len(after) > 32:
            raise DomainError("invalid", "after is a SKU (at most 32 characters).", fields={"after": ["Too long."]})
        return Response(selectors.catalog_page(branch=request.auth, after=after))


class SyncStatusApi(APIView):
    permission_classes = [IsCashier]

    @extend_schema(
        operation_id="sync_status",
        responses={
            200: inline_serializer(
                "SyncStatus",
                {
                    "branch": serializers.CharField(),
                    "pending_events": serializers.IntegerField(),
                    "parked_events": serializers.IntegerField(),
                    "oldest_pending_age_s": serializers.FloatField(),
                    "last_push_ok_at": serializers.DateTimeField(allow_null=True),
                    "last_push_error": serializers.CharField(),
                    "last_pull_at": serializers.DateTimeField(allow_null=True),
                    "central_reachable": serializers.BooleanField(),
                    "next_push_at": serializers.DateTimeField(allow_null=True),
                    "pull_cursor": serializers.IntegerField(),
                    "recovery_state": serializers.ChoiceField(choices=["idle", "check", "recovering"]),
                    "recovery_progress": inline_serializer(
                        "RecoveryProgress",
                        {
                            "replayed": serializers.IntegerField(),
                            "done_seq": serializers.IntegerField(),
                            "target_seq": serializers.IntegerField(),
                            "fraction": serializers.FloatField(),
                        },
                    ),
                    "recovery_error": serializers.CharField(),
                    "replay_failures": serializers.IntegerField(),
                    "last_backup_at": serializers.DateTimeField(allow_null=True),
                    "last_backup_age_s": serializers.FloatField(allow_null=True),
                    "failed_changes": serializers.IntegerField(),
                    "last_pull_resync_at": serializers.DateTimeField(allow_null=True),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request):
        return Response(sync_status())


# --------------------------------------------------------------------------------------------------------------
# Central: catalog and transfers (they reach branches through the change feed)
# --------------------------------------------------------------------------------------------------------------


class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["sku", "name", "unit", "price", "barcode", "plu", "active", "updated_at"]


class ProductSaveApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="product_save",
        request=ProductSaveInputSerializer,
        responses={200: ProductOutputSerializer, 201: ProductOutputSerializer, **ERRORS},
        description="Create or change a product (name, unit, price, barcode, plu, active). Every branch receives it "
        "through the change feed.",
    )
    def put(self, request, sku):
        if Product.objects.filter(sku=sku).exists():
            data = input_valid(ProductSaveInputSerializer, request)
        else:  # a new product: name, unit and price required, and the SKU of the URL held to the SKU rules
            body = {**request.data, "sku": sku} if isinstance(request.data, dict) else request.data
            data = input_valid(ProductCreateInputSerializer, request, body=body)
            del data["sku"]
        product, created = change_feed.product_save(sku=sku, **data)
        return Response(
            ProductOutputSerializer(product).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TransferCreateInputSerializer(serializers.Serializer):
    to_branch = serializers.CharField(max_length=16)
    from_branch = serializers.CharField(max_length=16, required=False, default="", allow_blank=True)
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=200)
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    def validate_lines(self, lines):
        return distinct_skus(lines)


def transfer_create_from(data: dict, *, user):
    """A transfer from validated :class:`TransferCreateInputSerializer` data (the API's and the page's): the
    branches named must be registered, and two different ones."""
    branch = Branch.objects.filter(code=data["to_branch"]).first()
    source = Branch.objects.filter(code=data["from_branch"]).first() if data["from_branch"] else None
    if branch is None or (data["from_branch"] and source is None) or source == branch:
        raise DomainError(
            "unknown_branch",
            "to_branch must be a registered branch, and from_branch (if given) another one.",
            fields={"to_branch": ["Unknown or the same as from_branch."]},
        )
    return change_feed.transfer_create(
        to_branch=branch,
        lines=[(line["sku"], line["quantity"]) for line in data["lines"]],
        from_branch=source,
        note=data["note"],
        user=user,
    )


class TransferCreateApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="transfer_create",
        request=TransferCreateInputSerializer,
        responses={
            201: inline_serializer(
                "TransferCreated", {"id": serializers.UUIDField(), "to_branch": serializers.CharField()}
            ),
            **ERRORS,
        },
    )
    def post(self, request):
        data = input_valid(TransferCreateInputSerializer, request)
        transfer = transfer_create_from(data, user=request.user)
        return Response({"id": str(transfer.id), "to_branch": transfer.to_branch_id}, status=status.HTTP_201_CREATED)


class QuickKeysInputSerializer(serializers.Serializer):
    branch = serializers.CharField(max_length=16, required=False, default="", allow_blank=True)
    skus = serializers.ListField(child=serializers.CharField(max_length=32), max_length=QUICK_KEYS_MAX)


def quick_keys_set_from(data: dict) -> list:
    """Quick keys from validated :class:`QuickKeysInputSerializer` data (the API's and the page's)."""
    branch = Branch.objects.filter(code=data["branch"]).first() if data["branch"] else None
    if data["branch"] and branch is None:
        raise DomainError("unknown_branch", "branch must be a registered branch.", fields={"branch": ["Unknown."]})
    return change_feed.quick_keys_set(branch=branch, skus=data["skus"])


class QuickKeysApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        operation_id="quick_keys_set",
        request=QuickKeysInputSerializer,
        responses={200: QuickKeysInputSerializer, **ERRORS},
        description="Lay out the till's quick keys (SKUs in button order) for one branch, or with no branch for "
        "every branch without its own. Every branch receives it through the change feed.",
    )
    def put(self, request):
        data = input_valid(QuickKeysInputSerializer, request)
        keys = quick_keys_set_from(data)
        return Response({"branch": data["branch"], "skus": [key.product_id for key in keys]})
