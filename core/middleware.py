"""Every request gets an id (logs, X-Request-ID); no HTML error page reaches an API client."""

import logging
import re
import uuid
from http import HTTPStatus

from core.context import request_id_var
from core.errors import DATABASE_ERRORS, DATABASE_RETRY_AFTER, DATABASE_UNAVAILABLE, json_error
from core.metrics import API_ERRORS

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/v1/", "/healthz", "/metrics")

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "throttled",
    500: "server_error",
}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiErrorMiddleware:
    """Turns any non-JSON error response on an API path into `{"error", "message"}`.

    DRF views already answer in that shape; this catches what happens outside them: unknown
    URLs, Django's own 400/403/405/413 responses, and unhandled exceptions (500).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_api_path(request.path) and response.status_code >= 400:
            API_ERRORS.labels(status=str(response.status_code)).inc()
        if (
            is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
            code = _CODES.get(status, "error")
            if status == 404:
                message = f"Nothing at {request.path}."
            elif status == 405:
                message = f"Method {request.method} is not allowed on {request.path}."
            elif status >= 500:
                message = "Something went wrong on our side; it has been logged."
            else:
                message = f"{phrase}."
            new = json_error(status, code, message)
            if response.has_header("Allow"):
                new["Allow"] = response["Allow"]
            return new
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if isinstance(exception, DATABASE_ERRORS):
            logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exception)
            response = json_error(503, *DATABASE_UNAVAILABLE)
            response["Retry-After"] = DATABASE_RETRY_AFTER
            return response
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error(500, "server_error", "Something went wrong on our side; it has been logged.")


REQUEST_ID_HEADER = "X-Request-ID"
# What a load balancer or client may hand us: short, and safe to print in a log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request's id, taken from a sane X-Request-ID or made up.

    It is `request.request_id`, `core.context.request_id_var` (every log line and record reads
    it) until the response is closed (so Django's own "Not Found: …" lines and streamed
    responses still carry it), and the response's X-Request-ID header.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        except BaseException:
            request_id_var.reset(token)
            raise
        response[REQUEST_ID_HEADER] = request_id
        response._resource_closers.append(lambda: _forget_request_id(token))
        return response


def _forget_request_id(token) -> None:
    try:
        request_id_var.reset(token)
    except ValueError:  # closed in another context (ASGI runs close() in a thread)
        request_id_var.set(None)
