"""BillingService endpoints: Stripe customer, card hold, subscription, price information."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import billable_summary, customer_get, preferred_currency
from billing.services.stripe_ops import (
    customer_create,
    hold_payment_intent_create,
    price_information,
    subscription_cancel,
    subscription_create,
)
from core.access import ensure_can_read, ensure_is_owner
from core.api import caller_name
from core.errors import Forbidden
from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import StrictInputSerializer

ATTRIBUTION = ATTRIBUTION_EXAMPLE


OWNER_ONLY = OpenApiResponse(description="Not a signed-in owner of the team, nor staff (`owner_required`)")
STRIPE_DOWN = OpenApiResponse(description="Stripe did not answer or refused (`stripe_error`)")


def _signed_in_owner(request, attribution_id: str) -> str:
    """Owners act through their browser session; finance staff and the internal token (the
    staff's machine credential, which may call every endpoint: DESIGN §11) may too. A team's
    API key may not: it reads its own data, it does not act on billing."""
    if getattr(request.user, "attribution_id", None):
        raise Forbidden(
            "Billing actions are taken by a signed-in team owner or finance staff.", code="owner_required"
        )
    return ensure_is_owner(request.user, attribution_id)


class CustomerSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    currency = serializers.SerializerMethodField()
    attribution_id = serializers.SerializerMethodField()

    def get_currency(self, obj) -> str:
        return preferred_currency(obj)

    def get_attribution_id(self, obj) -> str:
        return (obj.metadata or {}).get("attributionId", "")


class CustomerApi(APIView):
    class InputSerializer(StrictInputSerializer):
        currency = serializers.CharField(max_length=3)
        email = serializers.EmailField()
        name = serializers.CharField(max_length=200)

    @extend_schema(
        responses={200: CustomerSerializer, 403: OWNER_ONLY, 502: STRIPE_DOWN}, summary="GetStripeCustomer"
    )
    def get(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        return Response(CustomerSerializer(customer_get(attribution_id=attribution_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CustomerSerializer,
            403: OWNER_ONLY,
            409: OpenApiResponse(description="The team has a Stripe customer (`customer_exists`)"),
            502: STRIPE_DOWN,
        },
        summary="CreateStripeCustomer (one per team)",
        examples=[
            OpenApiExample(
                "Customer", value={"currency": "eur", "email": "billing@acme.test", "name": "Acme"}
            )
        ],
    )
    def post(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = customer_create(
            attribution_id=attribution_id,
            created_by_user_id=str(request.user.pk) if request.user.pk else caller_name(request),
            **serializer.validated_data,
        )
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class HoldPaymentIntentApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        client_secret = serializers.CharField()
        amount_minor = serializers.IntegerField()
        currency = serializers.CharField()

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 403: OWNER_ONLY, 502: STRIPE_DOWN},
        summary="CreateHoldPaymentIntent (1.00, manual capture)",
    )
    def post(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        return Response(self.OutputSerializer(hold_payment_intent_create(attribution_id=attribution_id)).data)


class SubscriptionApi(APIView):
    class InputSerializer(StrictInputSerializer):
        payment_intent_id = serializers.CharField(max_length=255)

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            403: OWNER_ONLY,
            409: OpenApiResponse(description="The team has an active subscription (`subscription_exists`)"),
            502: STRIPE_DOWN,
        },
        summary="CreateStripeSubscription (needs an authorised hold)",
        examples=[OpenApiExample("Subscribe", value={"payment_intent_id": "pi_3Nx…"}, request_only=True)],
    )
    def post(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = subscription_create(
            attribution_id=attribution_id,
            payment_intent_id=serializer.validated_data["payment_intent_id"],
            changed_by=caller_name(request),
        )
        return Response(
            self.OutputSerializer({"id": subscription.id, "status": subscription.status}).data,
            status=status.HTTP_201_CREATED,
        )

    class CancelOutputSerializer(serializers.Serializer):
        cancelled = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        request=None,
        responses={200: CancelOutputSerializer, 403: OWNER_ONLY, 502: STRIPE_DOWN},
        summary="CancelSubscription",
    )
    def delete(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        cancelled = subscription_cancel(attribution_id=attribution_id, changed_by=caller_name(request))
        return Response({"cancelled": cancelled})


class PriceInformationApi(APIView):
    class OutputSerializer(serializers.Serializer):
        currency = serializers.CharField()
        price_id = serializers.CharField()
        unit_amount = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)
        human_readable = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer, 502: STRIPE_DOWN}, summary="GetPriceInformation")
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        return Response(self.OutputSerializer(price_information(attribution_id=attribution_id)).data)


class BillableApi(APIView):
    class OutputSerializer(serializers.Serializer):
        attribution_id = serializers.CharField()
        balance = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
        covered_by_grants = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
        billable_credits = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
        spending_limit = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
        team_budget = serializers.DecimalField(
            max_digits=24, decimal_places=6, coerce_to_string=True, allow_null=True
        )
        effective_limit = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
        cycle_start = serializers.DateTimeField()
        blocked = serializers.BooleanField()

    @extend_schema(
        responses=OutputSerializer,
        summary="Billable credits this cycle: usage balance minus what grants covered",
        examples=[
            OpenApiExample(
                "Billable",
                value={
                    "attribution_id": ATTRIBUTION,
                    "balance": "300.000000",
                    "covered_by_grants": "200.000000",
                    "billable_credits": "100.000000",
                    "spending_limit": "500.000000",
                    "team_budget": None,
                    "effective_limit": "500.000000",
                    "cycle_start": "2026-11-01T00:00:00Z",
                    "blocked": False,
                },
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        return Response(self.OutputSerializer(billable_summary(attribution_id=attribution_id)).data)
