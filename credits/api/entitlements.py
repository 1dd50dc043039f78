"""May an attribution use a feature now: the entitlement read (OpenMeter's entitlement value)."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.serializers import CreditsSerializerField
from credits.selectors import entitlement_value


class EntitlementApi(APIView):
    @extend_schema_serializer(component_name="Entitlement")
    class OutputSerializer(serializers.Serializer):
        has_access = serializers.BooleanField()
        feature = serializers.CharField(source="feature_key")
        unit = serializers.CharField(
            help_text="What balance, usage and overage count: `credits`, or the unit of the feature's "
            "meter (its slug when the meter names no unit)."
        )
        balance = CreditsSerializerField()
        usage = CreditsSerializerField()
        overage = CreditsSerializerField()

    @extend_schema(
        responses=OutputSerializer,
        summary="May the subject use the feature now? (has_access, balance, usage, overage)",
        description=(
            "has_access is false while the cost center is blocked, and when the feature's grants "
            "are spent (balance 0) and the cost center's spending limit is reached. `credits` "
            "names rated usage credits; another unknown key is a 404. balance, usage and overage "
            "are in the feature's `unit`: meter units for a feature on a meter, else credits."
        ),
        examples=[
            OpenApiExample(
                "Grants left",
                value={
                    "has_access": True,
                    "feature": "credits",
                    "unit": "credits",
                    "balance": "80.000000",
                    "usage": "120.000000",
                    "overage": "0.000000",
                },
                response_only=True,
            ),
            OpenApiExample(
                "Spent and over the limit",
                value={
                    "has_access": False,
                    "feature": "credits",
                    "unit": "credits",
                    "balance": "0.000000",
                    "usage": "650.000000",
                    "overage": "550.000000",
                },
                response_only=True,
            ),
            OpenApiExample(
                "A meter feature, in its units",
                value={
                    "has_access": True,
                    "feature": "api_calls",
                    "unit": "calls",
                    "balance": "7500.000000",
                    "usage": "2500.000000",
                    "overage": "0.000000",
                },
                response_only=True,
            ),
        ],
    )
    def get(self, request, attribution_id: str, feature_key: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        value = entitlement_value(attribution_id=attribution_id, feature_key=feature_key, at=timezone.now())
        return Response(self.OutputSerializer(value).data)
