"""Buying credits: start a purchase (Stripe Checkout), list a team's purchases."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.stripe_billing import OWNER_ONLY, STRIPE_DOWN, _signed_in_owner
from billing.pages import purchase_return_url
from billing.selectors import credit_purchase_list
from billing.services.purchases import credit_purchase_start
from core.access import ensure_can_read
from core.api import caller_name
from core.pagination import PagePagination, paginated_response
from core.serializers import CreditsSerializerField, StrictInputSerializer


class CreditPurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attribution_id = serializers.CharField()
    status = serializers.CharField()
    credits = CreditsSerializerField()
    amount_minor = serializers.IntegerField(
        help_text="What the customer pays, in the currency's minor units."
    )
    currency = serializers.CharField()
    checkout_url = serializers.CharField(help_text="Stripe Checkout: send the owner here to pay.")
    session_id = serializers.CharField()
    grant_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    refunded_at = serializers.DateTimeField(allow_null=True)
    refunded_minor = serializers.IntegerField()
    credits_used_at_refund = CreditsSerializerField(allow_null=True)
    credits_voided = CreditsSerializerField(allow_null=True)


PURCHASE_EXAMPLE = {
    "id": 7,
    "attribution_id": "team:2f1c9a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
    "status": "open",
    "credits": "500.000000",
    "amount_minor": 18000,
    "currency": "eur",
    "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_a1…",
    "session_id": "cs_test_a1…",
    "grant_id": None,
    "created_at": "2026-12-04T12:00:00Z",
    "paid_at": None,
    "refunded_at": None,
    "refunded_minor": 0,
    "credits_used_at_refund": None,
    "credits_voided": None,
}


class CreditPurchaseListCreateApi(APIView):
    pagination_class = PagePagination

    class InputSerializer(StrictInputSerializer):
        credits = CreditsSerializerField(help_text='Whole credits to buy, e.g. "500".')
        success_url = serializers.URLField(required=False, max_length=2000)
        cancel_url = serializers.URLField(required=False, max_length=2000)

    @extend_schema(
        responses=CreditPurchaseSerializer(many=True),
        summary="A team's credit purchases, newest first",
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        return paginated_response(
            request=request,
            rows=credit_purchase_list(attribution_id=attribution_id),
            serializer_class=CreditPurchaseSerializer,
            view=self,
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CreditPurchaseSerializer,
            400: OpenApiResponse(
                description="Not whole credits (`invalid_credits`), below the minimum (`below_minimum`)"
                " or above the maximum (`above_maximum`) of the customer's currency"
            ),
            403: OWNER_ONLY,
            409: OpenApiResponse(
                description="The team has no Stripe customer yet (`billing_not_set_up`), or its currency"
                " sells no credits (`purchase_currency_unsupported`)"
            ),
            502: STRIPE_DOWN,
        },
        summary="Buy credits: a Stripe Checkout Session; the credits are granted when Stripe says it is paid",
        examples=[
            OpenApiExample("500 credits", value={"credits": "500"}, request_only=True),
            OpenApiExample("Started", value=PURCHASE_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        purchase = credit_purchase_start(
            attribution_id=attribution_id,
            credits=data["credits"],
            success_url=data.get("success_url") or purchase_return_url(request, attribution_id, "paid"),
            cancel_url=data.get("cancel_url") or purchase_return_url(request, attribution_id, "cancelled"),
            created_by=caller_name(request),
        )
        return Response(CreditPurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED)
