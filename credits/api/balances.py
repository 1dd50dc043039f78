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


class GrantBalanceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="grant.id")
    feature = serializers.CharField(source="grant.feature_key", allow_null=True)
    amount = CreditsSerializerField(source="grant.amount")
    balance = CreditsSerializerField()
    priority = serializers.IntegerField(source="grant.priority")
    effective_at = TimeField(source="grant.effective_at")
    expires_at = TimeField(source="grant.expires_at", allow_null=True)
    voided_at = TimeField(source="grant.voided_at", allow_null=True)


class FeatureBalanceSerializer(serializers.Serializer):
    balance = CreditsSerializerField()
    usage = CreditsSerializerField()
    overage = CreditsSerializerField()


class LedgerBalanceSerializer(serializers.Serializer):
    attribution_id = serializers.CharField()
    at = TimeField()
    balance = CreditsSerializerField()
    overage = CreditsSerializerField()
    usage = CreditsSerializerField()
    grants = GrantBalanceSerializer(many=True)
    features = serializers.DictField(child=FeatureBalanceSerializer())


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
            "Grants are those of the current reset period, in burn order; an expired, voided or "
            "spent grant shows 0. `usage` is usage since the last reset (per feature, and summed). "
            "`overage` is usage no grant could pay. Features are `credits` (rated usage credits, "
            "grants without a feature) and every feature with a grant in the period."
        ),
        examples=[
            OpenApiExample(
                "Two grants, 120 used",
                value={
                    "attribution_id": ATTRIBUTION_EXAMPLE,
                    "at": "2026-11-23T12:00:00Z",
                    "balance": "80.000000",
                    "overage": "0.000000",
                    "usage": "120.000000",
                    "grants": [
                        {
                            "id": 1,
                            "feature": None,
                            "amount": "100.000000",
                            "balance": "0.000000",
                            "priority": 1,
                            "effective_at": "2026-11-01T00:00:00Z",
                            "expires_at": None,
                            "voided_at": None,
                        },
                        {
                            "id": 2,
                            "feature": None,
                            "amount": "100.000000",
                            "balance": "80.000000",
                            "priority": 2,
                            "effective_at": "2026-11-01T00:00:00Z",
                            "expires_at": None,
                            "voided_at": None,
                        },
                    ],
                    "features": {
                        "credits": {"balance": "80.000000", "usage": "120.000000", "overage": "0.000000"}
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
