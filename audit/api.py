"""GET /api/v1/audit-events: the audit trail for finance staff and the internal service."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from audit.models import AuditEvent
from audit.selectors import audit_events_list
from core.attribution import normalize_attribution_id
from core.auth import IsStaffOrInternal
from core.pagination import paginated_response
from core.params import parse_time_param
from core.schema import ATTRIBUTION_EXAMPLE, PaginationSerializer, pagination_example
from core.serializers import TimeField


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = TimeField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    attribution_id = serializers.CharField()
    actor_kind = serializers.ChoiceField(choices=AuditEvent.ActorKind.values)
    actor_id = serializers.CharField()
    actor_label = serializers.CharField()
    source = serializers.ChoiceField(choices=AuditEvent.Source.values)
    request_id = serializers.CharField()
    before = serializers.JSONField(allow_null=True, help_text="Money as decimal strings.")
    after = serializers.JSONField(allow_null=True, help_text="Money as decimal strings.")


class AuditEventPageSerializer(serializers.Serializer):
    results = AuditEventSerializer(many=True)
    pagination = PaginationSerializer()


EVENT_EXAMPLE = {
    "id": 812,
    "occurred_at": "2026-11-23T12:04:10Z",
    "action": "cost_center.updated",
    "object_type": "cost_center",
    "object_id": "17",
    "attribution_id": ATTRIBUTION_EXAMPLE,
    "actor_kind": "user",
    "actor_id": "3",
    "actor_label": "finance",
    "source": "admin",
    "request_id": "3f2a9c1e",
    "before": {"spending_limit": "500.000000", "billing_strategy": "other"},
    "after": {"spending_limit": "800.000000", "billing_strategy": "other"},
}


class AuditEventListApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, description="e.g. cost_center.updated, grant.voided"),
            OpenApiParameter("object_type", str, description="e.g. cost_center, grant, api_key"),
            OpenApiParameter("object_id", str),
            OpenApiParameter("attribution_id", str, description="team:<uuid> or user:<uuid>"),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Inclusive, on occurred_at"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive"),
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter("per_page", int, description="Default 50, at most 1000"),
        ],
        responses=AuditEventPageSerializer,
        summary="The audit trail, newest first (staff, internal)",
        examples=[
            OpenApiExample(
                "A limit raised in the admin",
                value={"results": [EVENT_EXAMPLE], "pagination": pagination_example(1)},
                response_only=True,
            )
        ],
    )
    def get(self, request):
        params = request.query_params
        attribution_id = params.get("attribution_id")
        events = audit_events_list(
            action=params.get("action") or None,
            object_type=params.get("object_type") or None,
            object_id=params.get("object_id") or None,
            # Present but empty is a 400 like any malformed id (it does not mean "no filter").
            attribution_id=normalize_attribution_id(attribution_id) if attribution_id is not None else None,
            start=parse_time_param(params, "from"),
            end=parse_time_param(params, "to"),
        )
        return paginated_response(
            request=request, rows=events, serializer_class=AuditEventSerializer, view=self
        )
