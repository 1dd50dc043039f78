from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.api import caller_name
from core.attribution import normalize_attribution_id
from core.auth import IsStaffOrInternal
from core.errors import Conflict
from core.pagination import paginated_response
from core.schema import ATTRIBUTION_EXAMPLE, PaginationSerializer, pagination_example
from core.serializers import (
    AttributionIdField,
    CreditsSerializerField,
    JSONObjectField,
    StrictInputSerializer,
    TimeField,
)
from credits.api.serializers import GRANT_EXAMPLE, GrantSerializer, LedgerSerializer, with_aliases
from credits.engine import MAX_PRIORITY
from credits.models import EXPIRATION_UNITS, ROLLOVER_TYPES
from credits.selectors import grant_list
from credits.services import LedgerExists, grant_create, grant_void, ledger_create, ledger_reset

LEDGER_EXAMPLE = {
    "id": 7,
    "subject": ATTRIBUTION_EXAMPLE,
    "attribution_id": ATTRIBUTION_EXAMPLE,
    "created_at": "2026-11-23T12:00:00Z",
}


class LedgerCreateApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema_serializer(component_name="LedgerCreateInput")
    class InputSerializer(StrictInputSerializer):
        subject = AttributionIdField(help_text="The attribution id (`attribution_id` is accepted too).")

        def to_internal_value(self, data):
            return super().to_internal_value(with_aliases(data, {"attribution_id": "subject"}))

    @extend_schema(
        request=InputSerializer,
        responses={
            201: LedgerSerializer,
            409: OpenApiResponse(
                description="The subject has a ledger (`ledger_exists`, the ledger in `details`)"
            ),
        },
        summary="Create a subject's credits ledger (409 with the existing one if it has one)",
        examples=[
            OpenApiExample("Create", value={"subject": ATTRIBUTION_EXAMPLE}, request_only=True),
            OpenApiExample("Created", value=LEDGER_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample(
                "Exists",
                value={
                    "error": "ledger_exists",
                    "message": f"{ATTRIBUTION_EXAMPLE} already has a credits ledger.",
                    "details": LEDGER_EXAMPLE,
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            ledger = ledger_create(attribution_id=serializer.validated_data["subject"])
        except LedgerExists as exc:
            raise Conflict(exc.message, code=exc.code, details=LedgerSerializer(exc.ledger).data) from None
        return Response(LedgerSerializer(ledger).data, status=status.HTTP_201_CREATED)


class GrantListCreateApi(APIView):
    @extend_schema_serializer(component_name="GrantExpirationInput")
    class ExpirationInputSerializer(StrictInputSerializer):
        count = serializers.IntegerField(min_value=1)
        duration = serializers.ChoiceField(choices=EXPIRATION_UNITS, help_text="`unit` is accepted too.")

        def to_internal_value(self, data):
            return super().to_internal_value(with_aliases(data, {"unit": "duration"}))

    @extend_schema_serializer(component_name="GrantRolloverInput")
    class RolloverInputSerializer(StrictInputSerializer):
        type = serializers.ChoiceField(choices=ROLLOVER_TYPES)
        max_amount = CreditsSerializerField(required=False, allow_null=True, default=None)
        min_amount = CreditsSerializerField(required=False, allow_null=True, default=None)

        def to_internal_value(self, data):
            return super().to_internal_value(
                with_aliases(data, {"maxAmount": "max_amount", "minAmount": "min_amount"})
            )

    @extend_schema_serializer(component_name="GrantCreateInput")
    class InputSerializer(StrictInputSerializer):
        feature = serializers.CharField(
            required=False,
            allow_null=True,
            allow_blank=True,
            default=None,
            help_text="A feature key; empty for rated usage credits. `feature_key` is accepted too.",
        )
        amount = CreditsSerializerField()
        priority = serializers.IntegerField(required=False, default=1, min_value=0, max_value=MAX_PRIORITY)
        effective_at = TimeField(required=False, allow_null=True, default=None, help_text="Default: now")
        expiration = serializers.JSONField(required=False, allow_null=True, default=None)
        rollover = serializers.JSONField(required=False, allow_null=True, default=None)
        metadata = JSONObjectField(required=False, default=dict)

        def to_internal_value(self, data):
            data = with_aliases(data, {"feature_key": "feature"})
            if hasattr(data, "keys") and "expiration" not in data and "expiration_count" in data:
                data["expiration"] = {
                    "count": data["expiration_count"],
                    "duration": data.get("expiration_unit"),
                }
            if hasattr(data, "keys") and "rollover" not in data and "rollover_type" in data:
                data["rollover"] = {
                    "type": data["rollover_type"],
                    "max_amount": data.get("rollover_max_amount"),
                    "min_amount": data.get("rollover_min_amount"),
                }
            return super().to_internal_value(data)

        def validate_expiration(self, value):
            if value is None:
                return None
            nested = GrantListCreateApi.ExpirationInputSerializer(data=value)
            nested.is_valid(raise_exception=True)
            return nested.validated_data

        def validate_rollover(self, value):
            if value is None:
                return None
            nested = GrantListCreateApi.RolloverInputSerializer(data=value)
            nested.is_valid(raise_exception=True)
            return nested.validated_data

    @extend_schema_serializer(component_name="GrantList")
    class OutputListSerializer(serializers.Serializer):
        results = GrantSerializer(many=True)
        pagination = PaginationSerializer()

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter("per_page", int, description="Default 50, at most 1000"),
        ],
        responses=OutputListSerializer,
        summary="A ledger's grants, newest first (voided and rolled-over grants included)",
        examples=[
            OpenApiExample(
                "Grants",
                value={"results": [GRANT_EXAMPLE], "pagination": pagination_example(1)},
                response_only=True,
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        grants = grant_list(attribution_id=attribution_id)
        return paginated_response(request=request, rows=grants, serializer_class=GrantSerializer, view=self)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: GrantSerializer,
            409: OpenApiResponse(description="The ledger is busy (`ledger_locked`)"),
        },
        summary="Grant credits (the ledger is created on first use)",
        description=(
            "Lower priority burns first; at equal priority the sooner-expiring grant. "
            "effective_at defaults to now, is truncated to the minute and may not be before the "
            "ledger's last reset (400). A busy ledger answers 409 `ledger_locked`."
        ),
        examples=[
            OpenApiExample(
                "Monthly allowance",
                value={
                    "amount": "100",
                    "priority": 1,
                    "effective_at": "2026-11-01T00:00:00Z",
                    "expiration": {"count": 1, "duration": "MONTH"},
                    "rollover": {"type": "REMAINING_AMOUNT", "max_amount": "50"},
                    "metadata": {"reason": "welcome credits"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Metered feature", value={"feature": "api_calls", "amount": "10000"}, request_only=True
            ),
            OpenApiExample("Granted", value=GRANT_EXAMPLE, response_only=True, status_codes=["201"]),
            OpenApiExample(
                "Before the last reset",
                value={
                    "error": "before_last_reset",
                    "message": "effective_at is before the ledger's last reset at 2026-11-01T00:00:00Z.",
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "Locked",
                value={"error": "ledger_locked", "message": "ledger is locked, try again"},
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request, attribution_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        expiration = data["expiration"] or {}
        rollover = data["rollover"] or {}
        grant = grant_create(
            attribution_id=attribution_id,
            feature_key=data["feature"] or None,
            amount=data["amount"],
            priority=data["priority"],
            effective_at=data["effective_at"],
            expiration_count=expiration.get("count"),
            expiration_unit=expiration.get("duration"),
            rollover_type=rollover.get("type"),
            rollover_max_amount=rollover.get("max_amount"),
            rollover_min_amount=rollover.get("min_amount"),
            metadata=data["metadata"],
        )
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantVoidApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema_serializer(component_name="GrantVoidInput")
    class InputSerializer(StrictInputSerializer):
        voided_at = TimeField(
            required=False,
            allow_null=True,
            default=None,
            help_text="Default: now; not in the future. `effective_at` or `at` are accepted too.",
        )

        def to_internal_value(self, data):
            return super().to_internal_value(
                with_aliases(data, {"effective_at": "voided_at", "at": "voided_at"})
            )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: GrantSerializer,
            409: OpenApiResponse(description="Voided already (`grant_already_voided`) or the ledger is busy"),
        },
        summary="Void a grant: it stops paying from then on (409 when already voided)",
        examples=[
            OpenApiExample("Now", value={}, request_only=True),
            OpenApiExample("Backdated", value={"voided_at": "2026-11-20T00:00:00Z"}, request_only=True),
            OpenApiExample(
                "Voided",
                value={**GRANT_EXAMPLE, "voided_at": "2026-11-20T00:00:00Z"},
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Twice",
                value={
                    "error": "grant_already_voided",
                    "message": "Grant 42 was already voided at 2026-11-20T00:00:00Z.",
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request, attribution_id: str, grant_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grant = grant_void(
            attribution_id=attribution_id, grant_id=grant_id, voided_at=serializer.validated_data["voided_at"]
        )
        return Response(GrantSerializer(grant).data)


class LedgerResetApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema_serializer(component_name="LedgerResetInput")
    class InputSerializer(StrictInputSerializer):
        effective_at = TimeField(
            required=False,
            allow_null=True,
            default=None,
            help_text="Default: now; not in the future, not before the last reset. `at` is accepted too.",
        )

        def to_internal_value(self, data):
            return super().to_internal_value(with_aliases(data, {"at": "effective_at"}))

    @extend_schema_serializer(component_name="LedgerReset")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="reset.id")
        attribution_id = serializers.CharField(source="reset.ledger.attribution_id")
        effective_at = TimeField(source="reset.effective_at")
        created_at = TimeField(source="reset.created_at")
        rollover_grants = GrantSerializer(many=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            409: OpenApiResponse(
                description="Reset already at that time (`already_reset`) or the ledger is busy"
            ),
        },
        summary="Reset a ledger: rollover grants continue as child grants, the rest end, overage is dropped",
        examples=[
            OpenApiExample("Reset", value={"effective_at": "2026-12-01T00:00:00Z"}, request_only=True),
            OpenApiExample(
                "Done",
                value={
                    "id": 3,
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "effective_at": "2026-12-01T00:00:00Z",
                    "created_at": "2026-12-01T00:00:04Z",
                    "rollover_grants": [
                        {
                            **GRANT_EXAMPLE,
                            "id": 43,
                            "amount": "50.000000",
                            "effective_at": "2026-12-01T00:00:00Z",
                            "expiration": None,
                            "parent_id": 42,
                            "reset_id": 3,
                        }
                    ],
                },
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "In the future",
                value={"error": "reset_in_future", "message": "A reset cannot be in the future."},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request, attribution_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = ledger_reset(
            attribution_id=attribution_id,
            effective_at=serializer.validated_data["effective_at"],
            now=timezone.now(),
            created_by=caller_name(request),
        )
        return Response(self.OutputSerializer(outcome).data, status=status.HTTP_201_CREATED)
