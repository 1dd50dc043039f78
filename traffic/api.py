"""Ops endpoints in the shape of svc.plus billing-service, and the traffic account reads."""

import re
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import visible_attribution_ids
from core.api import caller_name, job_skipped_response
from core.auth import IsInternal, IsStaffOrInternal
from core.errors import NotFound, ValidationFailed, error_body
from core.models import JobRun
from traffic.config import parse_image
from traffic.models import TrafficAccount
from traffic.selectors import (
    MAX_BUCKET_RANGE,
    healthz,
    traffic_account_get,
    traffic_billing_summary,
    traffic_health,
    traffic_status,
    traffic_usage_buckets,
    traffic_usage_summary,
)
from traffic.services import CollectFailed, traffic_job_run

SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_EXAMPLE = {
    "job": "collect-and-rate",
    "started_at": "2026-11-23T12:06:05Z",
    "finished_at": "2026-11-23T12:06:06Z",
    "processed_samples": 2,
    "written_minutes": 1,
    "replayed_minutes": 1,
    "status": "partial",
    "error": "source node-a: http://127.0.0.1:9100/v1/snapshots/window timed out after 15s",
    "source_statuses": [
        {
            "source_id": "node-a",
            "last_completed_until": "2026-11-23T12:04:00Z",
            "last_attempted_at": "2026-11-23T12:06:05Z",
            "last_succeeded_at": "2026-11-23T12:05:04Z",
            "last_error": "http://127.0.0.1:9100/v1/snapshots/window timed out after 15s",
        },
        {
            "source_id": "node-b",
            "last_completed_until": "2026-11-23T12:05:00Z",
            "last_attempted_at": "2026-11-23T12:06:05Z",
            "last_succeeded_at": "2026-11-23T12:06:06Z",
            "last_error": "",
        },
    ],
}


class PingApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes from load balancers are never throttled

    @extend_schema(
        summary="Runtime image identity (from IMAGE); fields that cannot be read stay empty",
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "sha tag",
                value={
                    "image": f"registry.example.com/tally:sha-{SHA}",
                    "tag": f"sha-{SHA}",
                    "commit": SHA,
                    "version": SHA,
                },
            )
        ],
    )
    def get(self, request):
        return Response(parse_image(getattr(settings, "IMAGE", "")))


HEALTHZ_EXAMPLE = {
    "status": "ok",
    "message": "",
    "checks": {
        "database": {"status": "ok", "vendor": "postgresql", "message": ""},
        "lock_store": {"status": "ok", "backend": "redis", "message": ""},
        "jobs": {
            "status": "ok",
            "runs": [
                {
                    "job": "usage.collect_and_rate",
                    "outcome": "ok",
                    "started_at": "2026-11-23T12:06:05Z",
                    "finished_at": "2026-11-23T12:06:06Z",
                    "error": "",
                }
            ],
            "message": "",
        },
    },
}


class _ProbeApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes from load balancers are never throttled


class HealthzApi(_ProbeApi):
    @extend_schema(
        summary="Health of the whole service: 503 when the database or the lock store (Redis) is "
        "unreachable or the last run of any job is an error",
        description="`status` and `message` keep their billing-service meaning when the service is "
        "otherwise healthy (the collector alone: `/healthz/collect`); `checks` lists what was "
        "looked at: `database` (SELECT 1), `lock_store` (Redis PING, or the database backend of "
        "the embedded default) and `jobs` (the last finished run of every job).",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Healthy"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="Degraded: `message` and `checks` say why"),
        },
        examples=[OpenApiExample("Healthy", value=HEALTHZ_EXAMPLE)],
    )
    def get(self, request):
        healthy, body = healthz()
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class HealthzCollectApi(_ProbeApi):
    @extend_schema(
        summary="Health of collect-and-rate: 503 when the last run is an error",
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("Healthy", value={"status": "ok", "message": ""})],
    )
    def get(self, request):
        healthy, message = traffic_health()
        return Response(
            {"status": "ok" if healthy else "degraded", "message": message},
            status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


class StatusApi(APIView):
    permission_classes = [IsStaffOrInternal]

    @extend_schema(
        summary="The last collect-and-rate run and every exporter source's checkpoint",
        responses={200: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("Partial run", value=RUN_EXAMPLE)],
    )
    def get(self, request):
        return Response(traffic_status())


class _TrafficJobApi(APIView):
    """POST only (any other method is a 405 before credentials are looked at), internal token."""

    permission_classes = [IsInternal]
    job = "collect-and-rate"

    def initial(self, request, *args, **kwargs):
        if request.method not in ("POST", "OPTIONS"):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def post(self, request):
        try:
            run = traffic_job_run(job=self.job, triggered_by=f"api:{caller_name(request)}")
        except CollectFailed as exc:
            return Response(
                error_body("job_failed", f"{self.job} failed: {exc}", exc.result),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        except Exception as exc:
            return Response(
                error_body("job_failed", f"{self.job} failed: {exc}"),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        if run.outcome == JobRun.Outcome.SKIPPED:
            return job_skipped_response(self.job, run)
        return Response(run.result)


_JOB_SCHEMA = {
    "request": None,
    "responses": {
        200: OpenApiTypes.OBJECT,
        409: OpenApiResponse(description="Another run holds the job lock"),
        503: OpenApiResponse(
            description="The run failed (`details` holds its result), or the job lock store is unreachable"
        ),
    },
    "examples": [OpenApiExample("Result", value=RUN_EXAMPLE, response_only=True)],
}


class CollectAndRateJobApi(_TrafficJobApi):
    job = "collect-and-rate"

    @extend_schema(summary="Pull exporter snapshots, write minute facts and rate them now", **_JOB_SCHEMA)
    def post(self, request):
        return super().post(request)


class ReconcileJobApi(_TrafficJobApi):
    job = "reconcile"

    @extend_schema(summary="Same run as collect-and-rate, reported as `reconcile`", **_JOB_SCHEMA)
    def post(self, request):
        return super().post(request)


ACCOUNT_PARAM = OpenApiParameter(
    "account_uuid", OpenApiTypes.UUID, required=True, description="The proxy account (exporter sample uuid)"
)


def account_for(request) -> TrafficAccount:
    """The account named by `account_uuid`, if the caller may see its attribution (else 404)."""
    raw = request.query_params.get("account_uuid", "").strip()
    if not raw:
        raise ValidationFailed("account_uuid is required.", code="invalid_account_uuid")
    try:
        account_uuid = uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(f"account_uuid {raw!r} is not a UUID.", code="invalid_account_uuid") from None
    account = traffic_account_get(account_uuid=str(account_uuid))
    visible = visible_attribution_ids(request.user)
    if account is None or (visible is not None and account.attribution_id not in visible):
        raise NotFound(f"No traffic account {account_uuid}.", code="not_found")
    return account


_SHORT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


def parse_bucket_time(value: str, *, field: str) -> datetime:
    """RFC 3339 (with a zone) or YYYY-MM-DDTHH:MM (read as UTC); else a 400 `invalid_<field>`."""
    text = value.strip()
    try:
        if _SHORT_TIME.match(text):
            return datetime.strptime(text, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(
            f"{field} must be an RFC 3339 time such as 2026-11-23T12:00:00Z or YYYY-MM-DDTHH:MM "
            f"(UTC) (got {value!r}).",
            code=f"invalid_{field}",
        )
    return moment.astimezone(UTC)


class AccountUsageSummaryApi(APIView):
    @extend_schema(
        summary="A traffic account's usage: totals, included quota use, freshness, billing profile",
        parameters=[ACCOUNT_PARAM],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return Response(traffic_usage_summary(account=account_for(request), now=timezone.now()))


class AccountUsageBucketsApi(APIView):
    @extend_schema(
        summary="A traffic account's minute buckets between start and end (both inclusive)",
        parameters=[
            ACCOUNT_PARAM,
            OpenApiParameter(
                "start", str, description="RFC 3339 or YYYY-MM-DDTHH:MM (UTC); default: end minus 24 hours"
            ),
            OpenApiParameter("end", str, description="RFC 3339 or YYYY-MM-DDTHH:MM (UTC); default: now"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        account = account_for(request)
        params = request.query_params
        end = parse_bucket_time(params["end"], field="end") if params.get("end") else timezone.now()
        start = (
            parse_bucket_time(params["start"], field="start")
            if params.get("start")
            else end - timedelta(days=1)
        )
        if start > end:
            raise ValidationFailed("start must not be after end.", code="invalid_range")
        if end - start > MAX_BUCKET_RANGE:
            raise ValidationFailed("start..end may span at most 31 days.", code="range_too_long")
        return Response(traffic_usage_buckets(account=account, start=start, end=end))


class AccountBillingSummaryApi(APIView):
    @extend_schema(
        summary="A traffic account's quota state, billing profile and 20 newest traffic ledger rows",
        parameters=[ACCOUNT_PARAM],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return Response(traffic_billing_summary(account=account_for(request)))
