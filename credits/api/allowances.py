"""Recurring allowances: read by the team, written by finance staff and the internal token."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.api import caller_name
from core.attribution import normalize_attribution_id
from core.auth import IsStaffOrInternal
from core.pagination import paginated_response
from core.schema import ATTRIBUTION_EXAMPLE, PaginationSerializer, pagination_example
from core.serializers import CreditsSerializerField, StrictInputSerializer, TimeField
from credits.engine import MAX_PRIORITY
from credits.selectors.allowances import allowance_template_list
from credits.services.allowances import (
    allowance_template_create,
    allowance_template_deactivate,
    allowance_template_update,
)

ALLOWANCE_EXAMPLE = {
    "id": 3,
    "attribution_id": ATTRIBUTION_EXAMPLE,
    "name": "Team plan",
    "amount": "200.000000",
    "feature": None,
    "priority": 5,
    "expires_at_cycle_end": True,
    "active": True,
    "issued_cycles": 1,
    "last_issued_cycle": "2026-11-01T00:00:00Z",
    "created_at": "2026-11-01T00:00:00Z",
}


class AllowanceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attribution_id = serializers.CharField()
    name = serializers.CharField()
    amount = CreditsSerializerField()
    feature = serializers.CharField(source="feature.key", allow_null=True)
    priority = serializers.IntegerField()
    expires_at_cycle_end = serializers.BooleanField()
    active = serializers.BooleanField()
    issued_cycles = serializers.IntegerField(default=0)
    last_issued_cycle = TimeField(allow_null=True, default=None)
    created_at = TimeField()


def _listed(attribution_id: str, template_id: int):
    return allowance_template_list(attribution_id=attribution_id).get(pk=template_id)


class AllowanceListCreateApi(APIView):
    @extend_schema_serializer(component_name="AllowanceCreateInput")
    class InputSerializer(StrictInputSerializer):
        amount = CreditsSerializerField()
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        feature = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)
        priority = serializers.IntegerField(required=False, default=5, min_value=0, max_value=MAX_PRIORITY)
        expires_at_cycle_end = serializers.BooleanField(required=False, default=True)

    @extend_schema_serializer(component_name="AllowanceList")
    class OutputListSerializer(serializers.Serializer):
        results = AllowanceSerializer(many=True)
        pagination = PaginationSerializer()

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaffOrInternal()]
        return super().get_permissions()

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("per_page", int)],
        responses=OutputListSerializer,
        summary="A payer's recurring allowances (inactive ones included), oldest first",
        examples=[
            OpenApiExample(
                "Allowances", value={"results": [ALLOWANCE_EXAMPLE], "pagination": pagination_example(1)}
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        rows = allowance_template_list(attribution_id=attribution_id)
        return paginated_response(request=request, rows=rows, serializer_class=AllowanceSerializer, view=self)

    @extend_schema(
        request=InputSerializer,
        responses={201: AllowanceSerializer},
        summary="Add a recurring allowance (issued at once for the current cycle, then every cycle)",
        examples=[
            OpenApiExample("Team plan", value={"amount": "200", "name": "Team plan"}, request_only=True)
        ],
    )
    def post(self, request, attribution_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template = allowance_template_create(
            attribution_id=attribution_id,
            amount=data["amount"],
            name=data["name"],
            feature_key=data["feature"] or None,
            priority=data["priority"],
            expires_at_cycle_end=data["expires_at_cycle_end"],
            created_by=caller_name(request),
        )
        return Response(
            AllowanceSerializer(_listed(attribution_id, template.pk)).data, status=status.HTTP_201_CREATED
        )


class AllowanceDetailApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema_serializer(component_name="AllowanceUpdateInput")
    class InputSerializer(StrictInputSerializer):
        schema_min_properties = 1
        amount = CreditsSerializerField(required=False)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        feature = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        priority = serializers.IntegerField(required=False, min_value=0, max_value=MAX_PRIORITY)
        expires_at_cycle_end = serializers.BooleanField(required=False)
        active = serializers.BooleanField(required=False)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one field to change.")
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses=AllowanceSerializer,
        summary="Change an allowance from the next cycle on (issued grants keep their terms)",
        examples=[OpenApiExample("More", value={"amount": "250"}, request_only=True)],
    )
    def patch(self, request, attribution_id: str, allowance_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "feature" in changes:
            changes["feature_key"] = changes.pop("feature") or None
        template = allowance_template_update(
            attribution_id=attribution_id, template_id=allowance_id, **changes
        )
        return Response(AllowanceSerializer(_listed(attribution_id, template.pk)).data)

    @extend_schema(
        request=None,
        responses=AllowanceSerializer,
        summary="Stop an allowance from the next cycle on (kept, inactive; idempotent)",
    )
    def delete(self, request, attribution_id: str, allowance_id: str):
        attribution_id = normalize_attribution_id(attribution_id)
        template = allowance_template_deactivate(attribution_id=attribution_id, template_id=allowance_id)
        return Response(AllowanceSerializer(_listed(attribution_id, template.pk)).data)
