"""Meter event ingestion and meter usage endpoints."""

from datetime import timedelta

import orjson
from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import ensure_can_read
from core.auth import is_internal
from core.errors import PayloadTooLarge, ValidationFailed
from core.pagination import PagePagination, paginated_response
from core.params import parse_time_param
from core.schema import ATTRIBUTION_EXAMPLE
from core.serializers import TimeField
from usage.models import Meter
from usage.selectors.meters import meter_get, meter_usage_windows
from usage.services import meter_events_ingest

# The request body as the schema states it. Each event is checked on its own (a fast path, not
# a serializer) and a bad one is `rejected` in the 200 answer with its reason, so the schema
# constrains the batch (one object, or an array of 1 to 1,000 objects) and only describes the
# fields: a bad field is not a 400, and a schema claiming it were would be a lie.
_EVENT_FIELDS = {
    "unique_key": "string, at most 255 characters: the event's identity, counted once forever",
    "attribution_id": "team:<uuid> or user:<uuid>; a team key may only send its own",
    "instance_id": "string or null (optional): the workspace instance",
    "occurred_at": "RFC 3339 time with a zone",
    "amounts": "object: meter slug -> whole number >= 0",
    "metadata": "object (optional)",
}
_EVENT_ITEM = {
    "description": (
        "A meter event object; one whose fields do not validate, or an item that is not an "
        "object, is `rejected` in the results (not a 400)."
    ),
    "properties": {name: {"description": text} for name, text in _EVENT_FIELDS.items()},
}
EVENTS_REQUEST_SCHEMA = {
    "oneOf": [
        {**_EVENT_ITEM, "type": "object"},
        {"type": "array", "items": _EVENT_ITEM, "minItems": 1, "maxItems": settings.TALLY_INGEST_MAX_EVENTS},
    ]
}


class EventResultSerializer(serializers.Serializer):
    unique_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    reason = serializers.CharField(allow_null=True)


class IngestOutputSerializer(serializers.Serializer):
    results = EventResultSerializer(many=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()


class EventIngestApi(APIView):
    """POST /api/v1/events: one event or an array of up to 1,000."""

    throttle_scope = "ingest"  # its own, higher rate per key (core/throttling.py)

    @extend_schema(
        request={"application/json": EVENTS_REQUEST_SCHEMA},
        responses={
            200: IngestOutputSerializer,
            409: OpenApiResponse(
                description=(
                    "`ingest_conflict`: other requests were writing the same events at the same "
                    "moment and the batch still conflicted after the server's own retries. "
                    "Nothing of it was stored; retry the whole batch with the same keys."
                )
            ),
            413: OpenApiResponse(description="The body is over TALLY_INGEST_MAX_BYTES"),
            503: OpenApiResponse(
                description=(
                    "`unavailable`: the database connection failed (with `Retry-After`). "
                    "Nothing was stored; retry the batch with the same keys."
                )
            ),
        },
        summary="Ingest meter events (each unique key is counted once, forever)",
        description=(
            "Send one event object or an array of up to 1,000. The answer lists, in request "
            "order, `accepted`, `duplicate` (the key was stored before: nothing to retry) or "
            "`rejected` with a reason (do not retry unchanged). A batch is one transaction: "
            "on a 409 `ingest_conflict` or a 5xx nothing was stored and the whole batch may be "
            "retried with the same keys."
        ),
        examples=[
            OpenApiExample(
                "Two events",
                value=[
                    {
                        "unique_key": "node-7:2026-11-23T12:00",
                        "attribution_id": ATTRIBUTION_EXAMPLE,
                        "occurred_at": "2026-11-23T12:00:00Z",
                        "amounts": {"container-seconds": 60, "samples": 1200},
                    },
                    {
                        "unique_key": "node-7:2026-11-23T12:01",
                        "attribution_id": ATTRIBUTION_EXAMPLE,
                        "occurred_at": "2026-11-23T12:01:00Z",
                        "amounts": {"container-seconds": 60},
                        "metadata": {"node": "node-7"},
                    },
                ],
                request_only=True,
            ),
            OpenApiExample(
                "Results",
                value={
                    "results": [
                        {"unique_key": "node-7:2026-11-23T12:00", "status": "accepted", "reason": None},
                        {"unique_key": "node-7:2026-11-23T12:01", "status": "duplicate", "reason": None},
                    ],
                    "accepted": 1,
                    "duplicates": 1,
                    "rejected": 0,
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        user = request.user
        allowed = None
        if not is_internal(user):
            allowed = getattr(user, "attribution_id", None)
            if allowed is None:
                raise PermissionDenied("Events are sent with the internal token or a team API key.")
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.TALLY_INGEST_MAX_BYTES:
            raise PayloadTooLarge(f"A batch may be at most {settings.TALLY_INGEST_MAX_BYTES} bytes.")
        try:
            events = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailed(f"The body is not valid JSON: {exc}", code="malformed_request") from None
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list) or not events:
            raise ValidationFailed("Send one event object or a non-empty array of events.", code="invalid")
        if len(events) > settings.TALLY_INGEST_MAX_EVENTS:
            raise ValidationFailed(
                f"A batch may hold at most {settings.TALLY_INGEST_MAX_EVENTS:,} events "
                f"(got {len(events):,}).",
                code="batch_too_large",
            )
        results = meter_events_ingest(events=events, allowed_attribution=allowed)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result.status] += 1
        body = {
            "results": [r.as_dict() for r in results],
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
        }
        return Response(body)


class MeterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ["slug", "unit", "description", "active"]


class MeterListApi(APIView):
    pagination_class = PagePagination  # the schema's page/per_page and {"results", "pagination"}

    @extend_schema(responses=MeterSerializer(many=True), summary="Meters (amount types events may carry)")
    def get(self, request):
        meters = Meter.objects.order_by("slug")
        return paginated_response(request=request, rows=meters, serializer_class=MeterSerializer, view=self)


class MeterUsageApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class WindowSerializer(serializers.Serializer):
            start = TimeField()
            end = TimeField()
            value = serializers.IntegerField()

        meter = serializers.CharField()
        attribution_id = serializers.CharField()
        window = serializers.CharField()
        start = TimeField(source="from_")
        end = TimeField(source="to")
        total = serializers.IntegerField()
        data = WindowSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("attribution_id", str, required=True),
            OpenApiParameter(
                "from", OpenApiTypes.DATETIME, description="Inclusive; default: to minus 24 hours"
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive; default: now"),
            OpenApiParameter("window", str, enum=["MINUTE", "HOUR", "DAY"], description="Default HOUR"),
        ],
        responses=OutputSerializer,
        summary="A meter's usage per window, from the per-minute rollups",
        description="Windows without usage are omitted from `data` (zero rows are not listed).",
    )
    def get(self, request, slug: str):
        params = request.query_params
        if not params.get("attribution_id"):
            raise ValidationFailed("attribution_id is required.", code="invalid_attribution_id")
        attribution_id = ensure_can_read(request.user, params["attribution_id"])
        meter = meter_get(slug=slug)
        end = parse_time_param(params, "to") or timezone.now()
        start = parse_time_param(params, "from") or end - timedelta(days=1)
        window = params.get("window", "HOUR").upper()
        rows = meter_usage_windows(
            attribution_id=attribution_id, meter=meter, start=start, end=end, window=window
        )
        step = {"MINUTE": timedelta(minutes=1), "HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}[window]
        data = {
            "meter": meter.slug,
            "attribution_id": attribution_id,
            "window": window,
            "from_": start,
            "to": end,
            "total": sum(value for _, value in rows),
            "data": [{"start": s, "end": s + step, "value": value} for s, value in rows],
        }
        return Response(self.OutputSerializer(data).data)
