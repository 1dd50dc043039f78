"""A ledger's balance and its history (the credits reads per ledger)."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.pagination import paginated_response, parse_page_params
from core.params import parse_time_param
from core.schema import ATTRIBUTION_EXAMPLE, PaginationSerializer
from core.serializers import CreditsSerializerField, TimeField
from credits.selectors import ledger_balance, ledger_history


def _time_param(request, name: str):
    return parse_time_param(request.query_params, name)


UNIT_HELP = "`credits`, or the unit of the feature's meter (its slug when the meter names no unit)."


class GrantBalanceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="grant.id")
    feature = serializers.CharField(source="grant.feature_key", allow_null=True)
    unit = serializers.CharField(help_text=f"What amount and balance count: {UNIT_HELP}")
    amount = CreditsSerializerField(source="grant.amount")
    balance = CreditsSerializerField()
    priority = serializers.IntegerField(source="grant.priority")
    effective_at = TimeField(source="grant.effective_at")
    expires_at = TimeField(source="grant.expires_at", allow_null=True)
    voided_at = TimeField(source="grant.voided_at", allow_null=True)


class FeatureBalanceSerializer(serializers.Serializer):
    unit = serializers.CharField(help_text=f"What balance, usage and overage count: {UNIT_HELP}")
    meter_slug = serializers.CharField(help_text="The meter the feature counts; `credits` for rated credits.")
    balance = CreditsSerializerField()
    usage = CreditsSerializerField()
    overage = CreditsSerializerField()


class LedgerBalanceSerializer(serializers.Serializer):
    attribution_id = serializers.CharField()
    at = TimeField()
    unit = serializers.CharField(help_text="The unit of the totals: always `credits`.")
    balance = CreditsSerializerField(
        help_text="Credits left on grants in credits (no feature, or a feature on `credits`); no meter units."
    )
    overage = CreditsSerializerField(help_text="Rated credits no grant paid (the `credits` feature's).")
    usage = CreditsSerializerField(help_text="Rated credits used since the last reset (`credits` feature's).")
    grants = GrantBalanceSerializer(many=True)
    features = serializers.DictField(
        child=FeatureBalanceSerializer(),
        help_text="Per feature key, each in its own unit: `credits`, every feature with a grant in the "
        "period, and every feature on a meter with usage in the period.",
    )


def _grant_example(grant_id: int, feature, unit: str, amount: str, balance: str) -> dict:
    return {
        "id": grant_id,
        "feature": feature,
        "unit": unit,
        "amount": amount,
        "balance": balance,
        "priority": 1,
        "effective_at": "2026-11-01T00:00:00Z",
        "expires_at": None,
        "voided_at": None,
    }


class HistoryEntrySerializer(serializers.Serializer):
    type = serializers.CharField()
    time = TimeField()
    grant_id = serializers.IntegerField(allow_null=True)
    reset_id = serializers.IntegerField(allow_null=True)
    feature = serializers.CharField(allow_null=True)
    amount = CreditsSerializerField(allow_null=True)
    period_start = TimeField(allow_null=True)
    period_end = TimeField(allow_null=True)


class HistorySerializer(serializers.Serializer):
    entries = HistoryEntrySerializer(many=True)
    pagination = PaginationSerializer()


class LedgerBalanceApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description="The cutline; default now. Rounded up to the whole minute.",
            )
        ],
        responses=LedgerBalanceSerializer,
        summary="Balance at a cutline: per-grant and per-feature balances, usage in the period, overage",
        description=(
            "Units never mix. Every feature block and every grant names its `unit` and counts in "
            "it: `credits` for rated usage credits, or the unit of the feature's meter (the meter's "
            "slug when it names none). The top-level `balance`, `usage` and `overage` are credits "
            "only: `balance` is what grants in credits have left (no feature, or a feature on the "
            "`credits` meter), `usage` and `overage` those of the `credits` feature. Grants are "
            "those of the current reset period, in burn order; an expired, voided or spent grant "
            "shows 0. `usage` is usage since the last reset; `overage` is usage no grant could "
            "pay. Features are `credits`, every feature with a grant in the period, and every "
            "feature on a meter with usage in the period (with no grant its overage is its usage)."
        ),
        examples=[
            OpenApiExample(
                "Credits and a meter feature, side by side",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "at": "2026-11-23T12:00:00Z",
                    "unit": "credits",
                    "balance": "300.000000",
                    "overage": "0.000000",
                    "usage": "200.000000",
                    "grants": [
                        _grant_example(1, None, "credits", "500.000000", "300.000000"),
                        _grant_example(2, "api_calls", "calls", "10000.000000", "7500.000000"),
                    ],
                    "features": {
                        "credits": {
                            "unit": "credits",
                            "meter_slug": "credits",
                            "balance": "300.000000",
                            "usage": "200.000000",
                            "overage": "0.000000",
                        },
                        "api_calls": {
                            "unit": "calls",
                            "meter_slug": "api-calls",
                            "balance": "7500.000000",
                            "usage": "2500.000000",
                            "overage": "0.000000",
                        },
                        "ingest": {
                            "unit": "samples",
                            "meter_slug": "samples",
                            "balance": "0.000000",
                            "usage": "40.000000",
                            "overage": "40.000000",
                        },
                    },
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        at = _time_param(request, "at") or timezone.now()
        balance = ledger_balance(attribution_id=attribution_id, at=at)
        return Response(LedgerBalanceSerializer(balance).data)


class LedgerHistoryApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Inclusive; default: the beginning"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive; default: now"),
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter("per_page", int, description="Default 50, at most 1000"),
        ],
        responses=HistorySerializer,
        summary="Ledger history: GRANT, VOID, RESET and GRANT_USAGE entries, oldest first",
        description=(
            "GRANT at the grant's effective time (amount), VOID at the void, RESET at the reset, "
            "GRANT_USAGE for what a grant paid in [period_start, period_end) (placed at its start; "
            "periods are cut at every grant start, expiry, void, reset and hourly snapshot)."
        ),
        examples=[
            OpenApiExample(
                "History",
                value={
                    "entries": [
                        {
                            "type": "GRANT",
                            "time": "2026-11-01T00:00:00Z",
                            "grant_id": 1,
                            "reset_id": None,
                            "feature": None,
                            "amount": "100.000000",
                            "period_start": None,
                            "period_end": None,
                        },
                        {
                            "type": "GRANT_USAGE",
                            "time": "2026-11-01T00:00:00Z",
                            "grant_id": 1,
                            "reset_id": None,
                            "feature": None,
                            "amount": "25.000000",
                            "period_start": "2026-11-01T00:00:00Z",
                            "period_end": "2026-11-01T01:00:00Z",
                        },
                        {
                            "type": "VOID",
                            "time": "2026-11-01T01:00:00Z",
                            "grant_id": 1,
                            "reset_id": None,
                            "feature": None,
                            "amount": None,
                            "period_start": None,
                            "period_end": None,
                        },
                    ],
                    "pagination": {"page": 1, "per_page": 50, "total": 3, "total_pages": 1},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, attribution_id: str):
        attribution_id = ensure_can_read(request.user, attribution_id)
        parse_page_params(request.query_params)  # a bad page is a 400 before bad times
        history = ledger_history(
            attribution_id=attribution_id,
            start=_time_param(request, "from"),
            end=_time_param(request, "to"),
            now=timezone.now(),
        )
        return paginated_response(
            request=request,
            rows=history,
            serializer_class=HistoryEntrySerializer,
            view=self,
            results_key="entries",
        )
