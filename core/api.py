import logging
from collections.abc import Callable

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import visible_attribution_ids
from core.auth import is_internal
from core.errors import error_body
from core.jobs import run_job
from core.serializers import TimeField

logger = logging.getLogger(__name__)


def caller_name(request) -> str:
    user = request.user
    getter = getattr(user, "get_username", None)
    return (getter() if getter else "") or str(user)


class JobRunSerializer(serializers.Serializer):
    job = serializers.CharField()
    outcome = serializers.CharField()
    started_at = TimeField()
    finished_at = TimeField(allow_null=True)
    result = serializers.JSONField()


# What a "run this job now" endpoint answers (the error bodies are the `Error` component).
JOB_RESPONSES = {
    200: JobRunSerializer,
    409: OpenApiResponse(description="Another run holds the job lock (`job_running`)"),
    503: OpenApiResponse(
        description="The run failed (`job_failed`; the run is recorded) or the job lock store is unreachable "
        "(`lock_unavailable`)"
    ),
}


def job_skipped_response(name: str, run, details=None) -> Response:
    """A run that did not start: 503 when the job lock store is unreachable (retry later),
    409 when another copy holds the lock (retry when it has finished)."""
    if run.result.get("lock_unavailable"):
        return Response(
            error_body(
                "lock_unavailable", f"{name} did not run: {run.result['reason']}; try again later.", details
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return Response(
        error_body("job_running", f"{name} is already running; try again when it has finished.", details),
        status=status.HTTP_409_CONFLICT,
    )


def run_job_now(request, name: str, work: Callable[[], dict]) -> Response:
    """Run a job for an API caller: 200 with its result, 409 when another copy holds the lock,
    503 when it failed or the lock store is unreachable (the run is recorded either way)."""
    try:
        run = run_job(name, work, triggered_by=f"api:{caller_name(request)}")
    except Exception as exc:
        return Response(
            error_body("job_failed", f"{name} failed: {exc}"), status=status.HTTP_503_SERVICE_UNAVAILABLE
        )
    body = JobRunSerializer(run).data
    if run.outcome == "skipped":
        return job_skipped_response(name, run, body)
    return Response(body)


class MeApi(APIView):
    """Who the credential belongs to, and which attributions it reaches."""

    class OutputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["internal", "api_key", "user"])
        is_staff = serializers.BooleanField()
        attribution_ids = serializers.ListField(child=serializers.CharField(), allow_null=True)

    @extend_schema(responses=OutputSerializer, summary="The caller's identity")
    def get(self, request):
        user = request.user
        if is_internal(user):
            kind = "internal"
        elif getattr(user, "attribution_id", None):
            kind = "api_key"
        else:
            kind = "user"
        visible = visible_attribution_ids(user)
        data = {
            "kind": kind,
            "is_staff": bool(user.is_staff),
            "attribution_ids": sorted(visible) if visible is not None else None,
        }
        return Response(self.OutputSerializer(data).data)
