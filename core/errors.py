"""Errors a user can cause, and the one JSON shape the API renders them in.

Every API error body is `{"error": "<code>", "message": "<human sentence>", "details"?: ...}`.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from core.throttling import auth_failure_throttled

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of every error a caller can cause; `code` is stable, `message` a sentence."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class ValidationFailed(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class UnknownAttribution(ValidationFailed):
    """Billing state for an attribution id that names no registered payer (a 400)."""

    default_code = "unknown_attribution"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "forbidden"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class LockBusy(Conflict):
    default_code = "locked"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class UpstreamError(ApplicationError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "upstream_error"


# A dropped or unreachable database (PostgreSQL restarted, the connection terminated, a
# failover): the request may be retried as it is, so 503 rather than a 500 that looks like a bug.
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = (
    "unavailable",
    "The database connection failed while handling this request; retry it in a moment.",
)
DATABASE_RETRY_AFTER = "1"


def error_body(code: str, message: str, details: Any = None) -> dict:
    body = {"error": code, "message": message}
    if details not in (None, {}, []):
        body["details"] = details
    return body


def json_error(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


def _first_message(detail: Any) -> str:
    """The first human sentence inside DRF's nested error detail, prefixed by its field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            if key in ("non_field_errors", "__all__"):
                return inner
            return f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "malformed_request",
}


def _throttled_body(wait: int | None) -> dict:
    if wait is None:
        return error_body("throttled", "Too many requests; slow down and retry later.")
    return error_body(
        "throttled",
        f"Too many requests; retry after {wait} second{'s' if wait != 1 else ''}.",
        {"retry_after": wait},
    )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves in the `{"error", "message"}` shape."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, DATABASE_ERRORS):
        request = context.get("request")
        where = f"{request.method} {request.path}" if request is not None else "an API call"
        logger.warning("Database unavailable on %s: %s", where, exc)
        return Response(
            error_body(*DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": DATABASE_RETRY_AFTER},
        )
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(
            error_body("invalid", _first_message(details), details),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if not isinstance(exc, drf_exceptions.APIException):
        return None  # a bug: Django's 500 path (rendered as JSON by ApiErrorMiddleware)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, drf_exceptions.ValidationError):
        body = error_body("invalid", _first_message(exc.detail), exc.detail)
    elif isinstance(exc, drf_exceptions.Throttled):
        body = _throttled_body(exc.wait)
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        body = error_body(code or str(exc.default_code), str(exc.detail))
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        # Throttles run after authentication, so failed attempts are counted here, per IP.
        wait = auth_failure_throttled(context.get("request"))
        if wait is not None:
            return Response(_throttled_body(wait), status=429, headers={"Retry-After": str(wait)})
        # DRF answers 403 when no authenticator offers a challenge; a missing or bad credential
        # is a 401 here, always.
        return Response(body, status=status.HTTP_401_UNAUTHORIZED, headers=headers)
    return Response(body, status=exc.status_code, headers=headers)
