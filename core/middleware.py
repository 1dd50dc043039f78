"""No HTML error page is ever returned to an API client."""

import logging
from http import HTTPStatus

from core.errors import DATABASE_ERRORS, DATABASE_RETRY_AFTER, DATABASE_UNAVAILABLE, json_error

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
