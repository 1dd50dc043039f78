"""GET | PUT | DELETE /api/v1/billing/<attribution>/auto-recharge: a team's auto-recharge."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.stripe_billing import OWNER_ONLY, STRIPE_DOWN, _signed_in_owner
from billing.selectors_recharge import auto_recharge_summary
from billing.services.recharges import auto_recharge_disable, auto_recharge_set
from core.access import ensure_can_read
from core.api import caller_name
from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import CreditsSerializerField, StrictInputSerializer, TimeField


class RechargeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    credits = CreditsSerializerField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    remaining_before = CreditsSerializerField()
    payment_intent_id = serializers.CharField(allow_null=True)
    grant_id = serializers.IntegerField(allow_null=True)
    failure_message = serializers.CharField()
    created_at = TimeField()
    finished_at = TimeField(allow_null=True)


class AutoRechargeSerializer(serializers.Serializer):
    attribution_id = serializers.CharField()
    enabled = serializers.BooleanField()
    threshold = CreditsSerializerField(allow_null=True)
    target = CreditsSerializerField(allow_null=True)
    currency = serializers.CharField()
    prepaid_credits_left = CreditsSerializerField()
    consecutive_failures = serializers.IntegerField()
    retry_after = TimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    last_error = serializers.CharField()
    in_flight = serializers.BooleanField()
    last_recharge = RechargeSerializer(allow_null=True)


EXAMPLE = {
    "attribution_id": ATTRIBUTION_EXAMPLE,
    "enabled": True,
    "threshold": "100.000000",
    "target": "1000.000000",
    "currency": "eur",
    "prepaid_credits_left": "640.000000",
    "consecutive_failures": 0,
    "retry_after": None,
    "disabled_reason": "",
    "last_error": "",
    "in_flight": False,
    "last_recharge": None,
}


class AutoRechargeApi(APIView):
    class InputSerializer(StrictInputSerializer):
        threshold = CreditsSerializerField()
        target = CreditsSerializerField()
        enabled = serializers.BooleanField(default=True)

    @extend_schema(
        responses=AutoRechargeSerializer,
        summary="GetAutoRecharge: threshold, target, state and the last recharge",
        examples=[OpenApiExample("Auto-recharge", value=EXAMPLE, response_only=True)],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        return Response(AutoRechargeSerializer(auto_recharge_summary(attribution_id=attribution_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AutoRechargeSerializer,
            400: OpenApiResponse(
                description="Target not above the threshold, a negative threshold, target - threshold"
                " outside the purchase minimum/maximum, or no saved card (`no_payment_method`)"
            ),
            403: OWNER_ONLY,
            502: STRIPE_DOWN,
        },
        summary="SetAutoRecharge: below `threshold` prepaid credits, buy back up to `target` in one charge",
        examples=[
            OpenApiExample(
                "Turn on", value={"threshold": "100", "target": "1000", "enabled": True}, request_only=True
            )
        ],
    )
    def put(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auto_recharge_set(
            attribution_id=attribution_id, changed_by=caller_name(request), **serializer.validated_data
        )
        return Response(AutoRechargeSerializer(auto_recharge_summary(attribution_id=attribution_id)).data)

    @extend_schema(
        request=None,
        responses={
            200: AutoRechargeSerializer,
            403: OWNER_ONLY,
            404: OpenApiResponse(description="The team never set auto-recharge (`no_auto_recharge`)"),
        },
        summary="Turn auto-recharge off (its settings are kept)",
    )
    def delete(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        auto_recharge_disable(attribution_id=attribution_id, changed_by=caller_name(request))
        return Response(AutoRechargeSerializer(auto_recharge_summary(attribution_id=attribution_id)).data)
