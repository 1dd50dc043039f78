"""Self-service reads and the team's budget: the invoice preview and `…/budget`."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.stripe_billing import OWNER_ONLY, _signed_in_owner
from billing.budget import team_budget_get
from billing.upcoming import TAX_NOTE, upcoming_invoice
from core.access import ensure_can_read
from core.api import caller_name
from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import CreditsSerializerField, StrictInputSerializer, TimeField
from usage.services import cost_center_set_team_budget


class UpcomingInvoiceApi(APIView):
    class UsageSerializer(serializers.Serializer):
        workspace = CreditsSerializerField()
        meter = CreditsSerializerField()
        traffic = CreditsSerializerField()
        total = CreditsSerializerField()

    class AppliedSerializer(serializers.Serializer):
        prepaid = CreditsSerializerField()
        promotional = CreditsSerializerField()
        allowance = CreditsSerializerField()
        top_up = CreditsSerializerField()
        total = CreditsSerializerField()

        def to_representation(self, instance):
            data = super().to_representation(instance)
            data["top-up"] = data.pop("top_up")  # the grant kind's own spelling
            return data

    class OutputSerializer(serializers.Serializer):
        attribution_id = serializers.CharField()
        as_of = TimeField()
        cycle_start = TimeField()
        cycle_end = TimeField()
        time_zone = serializers.CharField()
        billing_strategy = serializers.CharField()
        usage = serializers.DictField(help_text="Usage credits this cycle by kind, and their total")
        carried = CreditsSerializerField(
            help_text="On the usage ledger from before the cycle, not yet billed"
        )
        credits_applied = serializers.DictField(help_text="What grants paid this cycle, by grant kind")
        billable_credits = CreditsSerializerField()
        spending_limit = CreditsSerializerField()
        team_budget = CreditsSerializerField(allow_null=True)
        effective_limit = CreditsSerializerField()
        capped = serializers.BooleanField(help_text="An `other` close would invoice only up to the limit")
        billed_credits = CreditsSerializerField(
            help_text="What the close would bill: ceil(billable) for stripe, capped billable for other"
        )
        currency = serializers.CharField(allow_null=True)
        amount_minor = serializers.IntegerField(allow_null=True, help_text="In the currency's minor unit")
        money_unavailable = serializers.CharField(allow_null=True)
        estimated = serializers.BooleanField()
        tax_note = serializers.CharField(allow_null=True)

    @staticmethod
    def as_data(preview) -> dict:
        usage = {**preview.usage_by_kind, "total": preview.usage}
        applied = {
            "prepaid": preview.applied_by_kind["prepaid"],
            "promotional": preview.applied_by_kind["promotional"],
            "allowance": preview.applied_by_kind["allowance"],
            "top_up": preview.applied_by_kind["top-up"],
            "total": preview.applied,
        }
        return {
            "attribution_id": preview.attribution_id,
            "as_of": preview.as_of,
            "cycle_start": preview.cycle_start,
            "cycle_end": preview.cycle_end,
            "time_zone": preview.time_zone,
            "billing_strategy": preview.billing_strategy,
            "usage": UpcomingInvoiceApi.UsageSerializer(usage).data,
            "carried": preview.carried,
            "credits_applied": UpcomingInvoiceApi.AppliedSerializer(applied).data,
            "billable_credits": preview.billable,
            "spending_limit": preview.spending_limit,
            "team_budget": preview.team_budget,
            "effective_limit": preview.effective_limit,
            "capped": preview.capped,
            "billed_credits": preview.billed_credits,
            "currency": preview.currency,
            "amount_minor": preview.amount_minor,
            "money_unavailable": preview.money_unavailable,
            "estimated": preview.estimated,
            "tax_note": preview.tax_note,
        }

    @extend_schema(
        responses=OutputSerializer,
        summary="Invoice preview: what the cycle would bill if it closed now",
        examples=[
            OpenApiExample(
                "Preview",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "as_of": "2026-11-23T12:00:00Z",
                    "cycle_start": "2026-11-01T00:00:00Z",
                    "cycle_end": "2026-12-01T00:00:00Z",
                    "time_zone": "UTC",
                    "billing_strategy": "stripe",
                    "usage": {
                        "workspace": "300.000000",
                        "meter": "150.000000",
                        "traffic": "0.000000",
                        "total": "450.000000",
                    },
                    "carried": "0.000000",
                    "credits_applied": {
                        "prepaid": "100.000000",
                        "promotional": "0.000000",
                        "allowance": "200.000000",
                        "top-up": "0.000000",
                        "total": "300.000000",
                    },
                    "billable_credits": "150.000000",
                    "spending_limit": "500.000000",
                    "team_budget": None,
                    "effective_limit": "500.000000",
                    "capped": False,
                    "billed_credits": "150.000000",
                    "currency": "eur",
                    "amount_minor": 5400,
                    "money_unavailable": None,
                    "estimated": True,
                    "tax_note": TAX_NOTE,
                },
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        preview = upcoming_invoice(attribution_id=attribution_id)
        return Response(self.OutputSerializer(self.as_data(preview)).data)


class TeamBudgetApi(APIView):
    class InputSerializer(StrictInputSerializer):
        team_budget = CreditsSerializerField(allow_null=True, help_text="Credits per cycle; null clears it")

    class OutputSerializer(serializers.Serializer):
        attribution_id = serializers.CharField()
        spending_limit = CreditsSerializerField(help_text="Finance's limit: the ceiling")
        team_budget = CreditsSerializerField(allow_null=True)
        effective_limit = CreditsSerializerField(help_text="The lower of the two: what is enforced")
        applies = serializers.ChoiceField(choices=["team_budget", "spending_limit"])
        ceiling_below_budget = serializers.BooleanField(
            help_text="Finance lowered its limit below the budget: finance's applies"
        )
        billable_credits = CreditsSerializerField()
        limit_reached = serializers.BooleanField()
        at_the_limit = serializers.CharField()

    @extend_schema(responses=OutputSerializer, summary="The team's budget and the limit that applies")
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        return Response(self.OutputSerializer(team_budget_get(attribution_id=attribution_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                description="Above finance's limit (`budget_above_limit`), negative, not credits"
            ),
            403: OWNER_ONLY,
        },
        summary="Set the team's own budget (at most finance's spending limit; null clears it)",
        examples=[
            OpenApiExample("Set", value={"team_budget": "300"}, request_only=True),
            OpenApiExample("Clear", value={"team_budget": None}, request_only=True),
        ],
    )
    def put(self, request, attribution_id: str):
        attribution_id = _signed_in_owner(request, attribution_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cost_center_set_team_budget(
            attribution_id=attribution_id,
            team_budget=serializer.validated_data["team_budget"],
            changed_by=caller_name(request),
        )
        return Response(self.OutputSerializer(team_budget_get(attribution_id=attribution_id)).data)
