"""UsageService endpoints: thin views, one service or selector each."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.api import JOB_RESPONSES, caller_name, run_job_now
from core.auth import IsInternal, IsStaffOrInternal
from core.errors import ValidationFailed
from core.jobs import USAGE_RATE
from core.money import format_credits
from core.pagination import paginated_response, parse_page_params
from core.params import parse_time_param
from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import (
    AttributionIdField,
    CreditsSerializerField,
    JSONObjectField,
    StrictInputSerializer,
    TimeField,
    UUIDField,
)
from usage.models.ledger import BillingStrategy
from usage.selectors import cost_center_get_or_default, effective_spending_limit, usage_balance, usage_list
from usage.services import (
    cost_center_set,
    credit_note_add,
    usage_rate,
    workspace_instance_report,
)


class UsageEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    attribution_id = serializers.CharField()
    description = serializers.CharField()
    credits = CreditsSerializerField()
    effective_time = TimeField()
    kind = serializers.CharField()
    object_id = serializers.CharField(allow_null=True)
    draft = serializers.BooleanField()
    metadata = serializers.JSONField()


@extend_schema_field({"type": "string", "enum": BillingStrategy.values})
class BillingStrategyField(serializers.CharField):
    """Checked by cost_center_set (400 `invalid_billing_strategy`); the schema lists the choices."""


class CostCenterSerializer(serializers.Serializer):
    attribution_id = serializers.CharField()
    spending_limit = CreditsSerializerField()
    team_budget = CreditsSerializerField(allow_null=True, help_text="The team's own limit; null: none set.")
    effective_limit = serializers.SerializerMethodField(
        help_text="What applies: the spending limit, or the team's budget when lower."
    )
    billing_strategy = serializers.ChoiceField(choices=["stripe", "other"])
    billing_cycle_start = TimeField()
    next_billing_time = TimeField()

    @extend_schema_field(CreditsSerializerField())
    def get_effective_limit(self, obj) -> str:
        return format_credits(effective_spending_limit(obj))


class WorkspaceInstanceApi(APIView):
    permission_classes = [IsInternal]

    class InputSerializer(StrictInputSerializer):
        attribution_id = AttributionIdField()
        workspace_class = serializers.CharField(max_length=100)
        started_at = TimeField()
        stopping_time = TimeField(required=False, allow_null=True)
        stopped_time = TimeField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        instance_id = serializers.CharField()
        attribution_id = serializers.CharField()
        workspace_class = serializers.CharField()
        started_at = TimeField()
        stopping_time = TimeField(allow_null=True)
        stopped_time = TimeField(allow_null=True)
        metadata = serializers.JSONField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            201: OutputSerializer,
            409: OpenApiResponse(description="The report contradicts what is stored (`instance_conflict`)"),
        },
        summary="Report a workspace instance's lifecycle (started, stopping, stopped)",
        examples=[
            OpenApiExample(
                "Started",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "workspace_class": "g1-standard",
                    "started_at": "2026-11-23T12:00:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Stopped",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "workspace_class": "g1-standard",
                    "started_at": "2026-11-23T12:00:00Z",
                    "stopping_time": "2026-11-23T12:06:00Z",
                    "stopped_time": "2026-11-23T12:06:05Z",
                },
                request_only=True,
            ),
        ],
    )
    def put(self, request, instance_id: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance, created = workspace_instance_report(instance_id=instance_id, **serializer.validated_data)
        return Response(
            self.OutputSerializer(instance).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CostCenterApi(APIView):
    class InputSerializer(StrictInputSerializer):
        schema_min_properties = 1  # spending_limit, billing_strategy or both
        spending_limit = CreditsSerializerField(required=False)
        billing_strategy = BillingStrategyField(required=False)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send spending_limit, billing_strategy or both.")
            return attrs

    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(responses=CostCenterSerializer, summary="GetCostCenter (created lazily)")
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=timezone.now())
        return Response(CostCenterSerializer(cost_center).data)

    @extend_schema(
        request=InputSerializer,
        responses=CostCenterSerializer,
        summary="SetCostCenter: spending limit and billing strategy",
        examples=[
            OpenApiExample("Limit", value={"spending_limit": "1000.000000"}, request_only=True),
            OpenApiExample("Move to Stripe", value={"billing_strategy": "stripe"}, request_only=True),
        ],
    )
    def put(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cost_center = cost_center_set(
            attribution_id=attribution_id, changed_by=caller_name(request), **serializer.validated_data
        )
        return Response(CostCenterSerializer(cost_center).data)


class BalanceApi(APIView):
    class OutputSerializer(serializers.Serializer):
        attribution_id = serializers.CharField()
        credits = CreditsSerializerField()

    @extend_schema(
        responses=OutputSerializer,
        summary="GetBalance: the sum of the attribution's usage entries, drafts included",
        examples=[
            OpenApiExample("Balance", value={"attribution_id": ATTRIBUTION_EXAMPLE, "credits": "10.000000"})
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        data = {"attribution_id": attribution_id, "credits": usage_balance(attribution_id=attribution_id)}
        return Response(self.OutputSerializer(data).data)


class UsageListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        entries = UsageEntrySerializer(many=True)
        credits_used = CreditsSerializerField()
        pagination = serializers.DictField()

    @extend_schema(
        parameters=[
            OpenApiParameter("attribution_id", str, required=True),
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description="Inclusive; default: to minus 300 days"
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive; default: now"),
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter("per_page", int, description="Default 50, at most 1000"),
            OpenApiParameter(
                "order", str, enum=["asc", "desc"], description="By effective time; default desc"
            ),
        ],
        responses=OutputSerializer,
        summary="ListUsage: entries in [from, to), credits used over the whole range, pagination",
    )
    def get(self, request):
        params = request.query_params
        if not params.get("attribution_id"):
            raise ValidationFailed("attribution_id is required.", code="invalid_attribution_id")
        attribution_id = ensure_can_read(request.user, params["attribution_id"])
        start = parse_time_param(params, "from")
        end = parse_time_param(params, "to")
        parse_page_params(params)  # a bad page is a 400 before the range is checked
        result = usage_list(
            attribution_id=attribution_id,
            start=start,
            end=end,
            now=timezone.now(),
            order=params.get("order", "desc"),
        )
        return paginated_response(
            request=request,
            rows=result.entries,
            serializer_class=UsageEntrySerializer,
            view=self,
            results_key="entries",
            credits_used=CreditsSerializerField().to_representation(result.credits_used),
        )


class CreditNoteApi(APIView):
    permission_classes = [IsStaffOrInternal]

    class InputSerializer(StrictInputSerializer):
        attribution_id = AttributionIdField()
        credits = CreditsSerializerField()
        description = serializers.CharField(allow_blank=True)
        user_id = UUIDField(required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={201: UsageEntrySerializer},
        summary="AddUsageCreditNote: positive credits lower the balance",
        examples=[
            OpenApiExample(
                "Goodwill",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "credits": "3",
                    "description": "Outage on 2026-11-20",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entry = credit_note_add(
            attribution_id=data["attribution_id"],
            credits=data["credits"],
            description=data["description"],
            user_id=str(data["user_id"]) if data.get("user_id") else None,
        )
        return Response(UsageEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


# POST /api/v1/jobs/reconcile-usage (its published path) runs usage.rate: see core.jobs.
# (A comment, not a docstring: drf-spectacular would publish a docstring as the description.)
class UsageRateJobApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema(request=None, responses=JOB_RESPONSES, summary="Run the ledger job (usage.rate) now")
    def post(self, request):
        return run_job_now(request, USAGE_RATE, usage_rate)
