"""Every request has an id: in the X-Request-ID header, in every log line it causes (JSON), and
Celery tasks log under their task id."""

import io
import json
import logging

import pytest
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from core.context import current_request_id
from core.logs import JsonFormatter, RequestIdFilter

view_logger = logging.getLogger("tally.test.view")


class LoggingApi(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        view_logger.info("counted %s widgets", 3)
        try:
            raise ValueError("the widget broke")
        except ValueError:
            view_logger.exception("a handled failure")
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/test-logging", LoggingApi.as_view()),
    path("", include("config.urls")),
]


@pytest.fixture
def json_lines():
    """What the console handler of LOG_FORMAT=json writes, as parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.urls(__name__)
def test_a_request_logs_json_lines_under_the_id_it_answers_with(client, json_lines):
    response = client.get("/api/v1/test-logging")

    request_id = response["X-Request-ID"]
    lines = [line for line in json_lines() if line["logger"] == "tally.test.view"]
    assert len(request_id) == 32  # made up: uuid4 hex
    assert [line["message"] for line in lines] == ["counted 3 widgets", "a handled failure"]
    assert {line["request_id"] for line in lines} == {request_id}
    assert all(line["level"] in ("INFO", "ERROR") for line in lines)
    assert lines[0]["time"].endswith("Z") and lines[0]["time"][10] == "T"
    assert "exc" not in lines[0]
    assert "ValueError: the widget broke" in lines[1]["exc"]
    assert current_request_id() is None  # reset once the response is closed


@pytest.mark.urls(__name__)
def test_a_sane_incoming_request_id_is_kept(client, json_lines):
    from_the_balancer = "lb-7f3a9c21.2026-11-30T17:21:12"

    response = client.get("/api/v1/test-logging", HTTP_X_REQUEST_ID=from_the_balancer)

    assert response["X-Request-ID"] == from_the_balancer
    assert {line["request_id"] for line in json_lines() if line["logger"] == "tally.test.view"} == {
        from_the_balancer
    }


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "insane",
    ["x" * 65, "two words", "id\\nforged log line", '"quoted"', "-leading-dash", "ünicode"],
)
def test_an_insane_incoming_request_id_is_replaced(client, insane):
    response = client.get("/api/v1/test-logging", HTTP_X_REQUEST_ID=insane)

    assert response["X-Request-ID"] != insane
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_error_responses_and_django_request_warnings_carry_the_id(client, json_lines):
    response = client.get("/api/v1/nothing-here", HTTP_X_REQUEST_ID="req-404")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-404"
    not_found = [line for line in json_lines() if line["logger"] == "django.request"]
    assert not_found and not_found[0]["request_id"] == "req-404"


@pytest.mark.django_db
def test_a_celery_task_logs_under_its_task_id(json_lines):
    from credits.tasks import balance_snapshots_save_due

    result = balance_snapshots_save_due.delay()  # eager in tests: runs here, through Celery's tracer

    job_lines = [line for line in json_lines() if line["logger"] == "core.jobs"]
    assert job_lines and job_lines[-1]["message"].startswith("job credits.snapshot ok in ")
    assert {line["request_id"] for line in job_lines} == {result.id}
    assert current_request_id() is None


def test_outside_requests_and_tasks_the_request_id_is_null(json_lines):
    logging.getLogger("tally.test.view").warning("from a management command")
    (line,) = [line for line in json_lines() if line["logger"] == "tally.test.view"]
    assert line["request_id"] is None
    assert line["level"] == "WARNING"
